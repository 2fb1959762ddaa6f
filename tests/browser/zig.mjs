// A Zig package page at both widths, and its `zig fetch` line through the copy button.
export async function run({ page, both, shot, copied, params }) {
  await both((p) => p.goto(`/zig/package/${params.name}`, { waitUntil: 'load' }));
  await shot('zig-package');
  return {
    fetch: await copied(page, 'button.copy[data-copy=zig-fetch]'),
    hash: await page.locator('#zig-hash').innerText(),
  };
}
