// End-to-end test of the supervisors' dashboard in headless Chromium
// (Debian's package, driven by playwright-core: no browser download).
// Run by scripts/test-dashboard-e2e, which starts the demo server.
//
// Signs in, sees the report a device synced, follows it to its history,
// downloads the funders' XLSX (checked afterwards by the xlsx_check example),
// and writes screenshots of the main pages. Fails on any request that leaves
// the server: the pages must work with no internet access.

const { chromium } = require('playwright-core');
const path = require('path');
const fs = require('fs');

const base = process.env.DASHBOARD_URL;            // http://127.0.0.1:PORT
const shots = process.env.SCREENSHOT_DIR;          // target/screenshots
const downloadTo = process.env.XLSX_OUT;           // where to save the report
const facts = JSON.parse(fs.readFileSync(process.env.FACTS_JSON, 'utf8'));

function check(cond, what) {
  if (!cond) throw new Error('ÉCHEC : ' + what);
  console.log('ok  ' + what);
}

(async () => {
  fs.mkdirSync(shots, { recursive: true });
  const userDir = fs.mkdtempSync(path.join(require('os').tmpdir(), 'carnet-chromium-'));
  const browser = await chromium.launchPersistentContext(userDir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  const outside = [];
  try {
    const page = browser.pages()[0] || await browser.newPage();
    page.on('request', (r) => { if (!r.url().startsWith(base) && !r.url().startsWith('data:')) outside.push(r.url()); });
    const shot = async (name) => { await page.screenshot({ path: path.join(shots, name + '.png'), fullPage: true }); };

    await page.goto(base + '/dashboard/');
    check(page.url().endsWith('/dashboard/connexion'), 'signed out, the dashboard sends to the sign-in page');
    await shot('01-connexion');

    // The seeded account of the demo server (dashboard/src/testing.rs).
    await page.fill('input[name=email]', 'superviseur@exemple.fr');
    await page.fill('input[name=password]', 'mediator-token');
    await page.click('button[type=submit]');
    const refused = await page.textContent('body');
    check(refused.includes('incorrect') && refused.includes("jeton d'appareil"), 'a wrong password (or a device token) is refused, and the page says tokens no longer open the dashboard');

    await page.fill('input[name=email]', 'superviseur@exemple.fr');
    await page.fill('input[name=password]', 'tulipe orage quarante vélo');
    await Promise.all([page.waitForURL('**/dashboard/degradations'), page.click('button[type=submit]')]);
    const body = await page.textContent('main');
    check(body.includes('Tour 5, ascenseur'), 'the open report synced from the device is listed');
    check(body.includes('Ozanam + Albignac'), 'with its sector');
    await shot('02-degradations');

    const row = page.locator('tr', { hasText: 'Tour 5, ascenseur' });
    await Promise.all([page.waitForURL('**/signalements/' + facts.open_report), row.getByRole('link', { name: 'Historique' }).click()]);
    const hist = await page.textContent('main');
    check(hist.includes('Historique des statuts') && hist.includes('Ascenseur bloqué au 3e'), "the report's history page opens");
    await shot('03-historique-signalement');

    await page.goto(base + '/dashboard/signalements/' + facts.resolved_report);
    const resolved = await page.textContent('main');
    check(resolved.includes('BX-12') && resolved.includes('Résolu'), 'a fixed report shows its forwarding and resolution');
    await shot('04-historique-resolu');

    for (const [p, name, text] of [
      ['/dashboard/retards', '05-retards', 'Délais par catégorie'],
      ['/dashboard/delais', '06-delais', 'Délais de résolution'],
      ['/dashboard/activite', '07-activite', 'Sessions aller vers'],
      ['/dashboard/exports', '09-exports', 'Exports du journal'],
      ['/dashboard/journal', '10-journal', 'fiche signalement'],
    ]) {
      await page.goto(base + p);
      check((await page.textContent('main')).includes(text), p + ' renders');
      await shot(name);
    }

    await page.goto(base + '/dashboard/rapport');
    check((await page.textContent('main')).includes('Dégradations transmises'), 'the funders’ report page renders');
    await shot('08-rapport');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('text=Télécharger (XLSX)')]);
    check(download.suggestedFilename().endsWith('.xlsx'), 'the XLSX report downloads: ' + download.suggestedFilename());
    await download.saveAs(downloadTo);

    await page.click('button:has-text("Se déconnecter")');
    await page.waitForURL('**/dashboard/connexion');
    await page.goto(base + '/dashboard/degradations');
    check(page.url().endsWith('/dashboard/connexion'), 'after sign-out the pages are closed');

    check(outside.length === 0, 'no request left the server (' + outside.join(', ') + ')');
  } finally {
    await browser.close();
    fs.rmSync(userDir, { recursive: true, force: true });
  }
})().catch((e) => { console.error(e); process.exit(1); });
