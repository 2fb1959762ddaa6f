// A package page at both widths: its README, versions and chart, the copy button's text, and
// whether anything the README tried ran.
export async function run({ page, both, shot, copied, xss, params }) {
  await both((p) => p.goto(`/package/${params.name}`, { waitUntil: 'load' }));
  await shot(params.shot ?? 'package');
  const readme = await page.locator('#readme').innerText();
  const versions = await page.locator('#versions tbody tr').count();
  const bars = await page.locator('#downloads svg rect.bar').count();
  const downloads = await page.locator('#downloads-total').innerText();
  const install = await copied(page, 'button.copy[data-copy=install-npm]');
  // Links the README kept, for the test to check none is javascript:.
  const links = await page.locator('#readme a').evaluateAll((a) => a.map((l) => l.getAttribute('href')));
  return { readme, versions, bars, downloads, install, links, xss: await xss() };
}
