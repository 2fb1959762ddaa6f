// A page that does not exist, as a browser asks for it.
export async function run({ page, both, shot }) {
  const [response] = await both((p) => p.goto('/no/such/page', { waitUntil: 'load' }));
  await shot('not-found');
  return { status: response.status(), heading: await page.locator('h1').innerText() };
}
