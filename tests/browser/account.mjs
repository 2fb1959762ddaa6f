// Signing in with a password, then either making a token in the page (`create`: returns it,
// shown once) or revoking the token of that name (`revoke`).
export async function run({ page, phone, shot, params }) {
  await page.goto('/login');
  await page.locator('#login-name').fill(params.user);
  await page.locator('#login-password').fill(params.password);
  await Promise.all([
    page.waitForURL('**/account'),
    page.locator('form[action="/login"] button[type=submit]').first().click(),
  ]);
  if (params.step === 'create') {
    await page.locator('#token-name').fill(params.token_name);
    await page.locator('#token-scope').selectOption('publish');
    await Promise.all([
      page.waitForLoadState('load'),
      page.locator('#new-token-form button[type=submit]').click(),
    ]);
    await page.locator('#new-token').waitFor();
    // The same page at phone width, signed in with the session the desktop got.
    const cookies = await page.context().cookies();
    await phone.context().addCookies(cookies);
    await phone.goto('/account');
    await shot('tokens');
    return {
      signedInAs: await page.locator('#signed-in-as').innerText(),
      token: await page.locator('#new-token').innerText(),
    };
  }
  const row = page.locator('#tokens tbody tr', { hasText: params.token_name });
  await Promise.all([
    page.waitForLoadState('load'),
    row.locator('button', { hasText: 'Revoke' }).click(),
  ]);
  await page.waitForURL('**/account');
  return {
    left: await page.locator('#tokens tbody tr td:first-child').allInnerTexts(),
  };
}
