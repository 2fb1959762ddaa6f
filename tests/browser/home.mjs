// Home at both widths, then the live search: typing shows the package, the arrow key selects
// it and Enter opens its page.
export async function run({ page, both, shot, params }) {
  await both((p) => p.goto('/', { waitUntil: 'load' }));
  await shot('home');
  const heading = await page.locator('h1').first().innerText();
  await page.locator('#q').pressSequentially(params.query, { delay: 30 });
  await page.locator('#suggestions li[role=option]').first().waitFor();
  const suggestions = await page.locator('#suggestions li[role=option] a').allInnerTexts();
  await page.locator('#q').press('ArrowDown');
  const selected = await page.locator('#suggestions li[aria-selected=true] a').innerText();
  await Promise.all([
    page.waitForURL('**/package/**'),
    page.locator('#q').press('Enter'),
  ]);
  return { heading, suggestions, selected, path: new URL(page.url()).pathname };
}
