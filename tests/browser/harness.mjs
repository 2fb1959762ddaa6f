// The harness checks itself on a document of the registry's without a CSP (the OpenAPI
// document): a copy button's text reaches the clipboard helper, the XSS hooks see a payload
// (which the pages' CSP would refuse), and a request to another origin is recorded (and never
// sent).
export async function run({ page, copied, xss }) {
  await page.goto('/openapi.json');
  const clean = await xss();
  // A copy button as a page would wire it (no inline handler: a CSP would refuse one).
  await page.evaluate(() => {
    const button = document.createElement('button');
    button.id = 'copy';
    button.textContent = 'Copy';
    button.addEventListener('click', () => navigator.clipboard.writeText('npm install left-pad'));
    document.body.append(button);
  });
  const clipboard = await copied(page, '#copy');
  // What a stored XSS payload would run, once as markup and once as a dialog.
  await page.evaluate(() => {
    const img = document.createElement('img');
    img.setAttribute('onerror', 'window.__xss.push("img onerror")');
    img.src = 'data:image/png;base64,broken';
    document.body.append(img);
  });
  await page.waitForFunction(() => window.__xss.length > 0);
  await page.evaluate(() => alert('xss'));
  const fired = await xss();
  await page.evaluate(() => fetch('http://elsewhere.invalid/beacon').catch(() => {}));
  return { clipboard, clean: clean.fired, fired };
}
