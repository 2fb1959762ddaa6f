// The API documentation (Swagger UI at /docs): the operations it rendered, and what the page is
// made of (inline scripts and styles, which a CSP without 'unsafe-inline' refuses).
export async function run({ page, phone, both, shot }) {
  await both(async (p) => {
    await p.goto('/docs', { waitUntil: 'load' });
    await p.locator('.opblock').first().waitFor();
  });
  await shot('docs');
  await shot('docs-top', { fullPage: false });
  const phoneLayoutWidth = await phone.evaluate(() => document.documentElement.clientWidth);
  const facts = await page.evaluate(() => ({
    operations: [...document.querySelectorAll('.opblock')].map((o) => o.id),
    paths: [...document.querySelectorAll('.opblock-summary-path')].map((p) => p.getAttribute('data-path')),
    inline_scripts: document.querySelectorAll('script:not([src])').length,
    external_scripts: [...document.querySelectorAll('script[src]')].map((s) => s.src),
    inline_styles: document.querySelectorAll('style').length,
    // Without <meta name="viewport"> a phone lays the page out 980 px wide and shrinks it.
    viewport_meta: document.querySelector('meta[name="viewport"]')?.content ?? null,
  }));
  return { ...facts, phone_layout_width: phoneLayoutWidth };
}
