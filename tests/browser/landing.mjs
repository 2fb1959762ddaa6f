// The landing page (assets/index.html) at desktop and phone widths.
export async function run({ page, both, shot }) {
  await both((p) => p.goto('/', { waitUntil: 'load' }));
  await shot('landing');
  return {
    title: await page.title(),
    heading: await page.locator('h1').innerText(),
    links: await page.locator('a').evaluateAll((links) => links.map((a) => a.getAttribute('href'))),
  };
}
