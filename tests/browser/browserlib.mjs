// What the browser tests share: headless Chromium started the same way, and the login form filled in.
import { chromium } from 'playwright-core';

export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

// Logs in on the daemon at base through the page's form and waits for the navigation.
export async function loginAs(p, base, user, password) {
  await p.goto(base + '/');
  await p.locator('#login-view').waitFor();
  await p.fill('input[name=user]', user);
  await p.fill('input[name=password]', password);
  await p.click('#login-form button[type=submit]');
  await p.locator('#nav').waitFor();
}
