// A supervisor's day on the real server, in headless Chromium (Debian's
// package, driven by playwright-core). Run by scripts/test-dashboard-e2e,
// which starts carnet-server, fills it from two CLI phones and, afterwards,
// checks on a phone that every change arrived signed by the supervisor.
//
// Invited, the supervisor chooses a password and enrols TOTP (the code is
// computed here from the secret the page shows), signs out and in again
// with a code, forwards a report, comments on it, closes another, settles a
// conflict, downloads a resident's file (JSON and HTML), redacts the note
// naming her and erases her; the access log must show each step. Fails on
// any request that leaves the server.

const { chromium } = require('playwright-core');
const crypto = require('crypto');
const path = require('path');
const fs = require('fs');

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error('missing environment variable ' + name);
  return v;
};
const base = env('DASHBOARD_URL');                 // http://127.0.0.1:PORT
const invitation = env('INVITATION_URL');          // from `carnet-server user add`
const shots = env('SCREENSHOT_DIR');
const downloads = env('DOWNLOAD_DIR');
const email = env('SUPERVISOR_EMAIL');
const password = env('SUPERVISOR_PASSWORD');
const ids = { r1: env('R1'), r2: env('R2'), r3: env('R3'), contact: env('CONTACT'), note: env('NOTE') };
const who = 'Claire Martin';

function check(cond, what) {
  if (!cond) throw new Error('ÉCHEC : ' + what);
  console.log('ok  ' + what);
}

// RFC 4648 base32 (no padding needed), as authenticator apps read the key.
function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of text.replace(/[\s=]/g, '').toUpperCase()) {
    const i = alphabet.indexOf(ch);
    if (i < 0) throw new Error('not a base32 key');
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

// RFC 6238 TOTP: HMAC-SHA1, 30-second steps, 6 digits.
function totp(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = crypto.createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const n = (mac.readUInt32BE(offset) & 0x7fffffff) % 1000000;
  return String(n).padStart(6, '0');
}
const currentStep = () => Math.floor(Date.now() / 1000 / 30);

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
    page.setDefaultTimeout(15000);
    page.on('request', (r) => { if (!r.url().startsWith(base) && !r.url().startsWith('data:')) outside.push(r.url()); });
    const shot = async (name) => { await page.screenshot({ path: path.join(shots, name + '.png'), fullPage: true }); };
    const main = async () => (await page.textContent('main')) || '';
    // Submits a form by its button and waits for the page the server answers with.
    const submit = async (button) => {
      await Promise.all([page.waitForNavigation(), button.click()]);
    };

    // 1. The invitation: a password and the TOTP second factor.
    await page.goto(invitation);
    check((await page.textContent('body')).includes('Bienvenue, ' + who), 'the invitation greets the supervisor by name');
    const secret = await page.inputValue('input[name=totp_secret]');
    check(/^[A-Z2-7]+=*$/.test(secret) && (await page.textContent('body')).includes(secret),
      'the page shows the base32 key to type into an authenticator');
    await shot('s01-invitation');
    await page.fill('input[name=password]', password);
    await page.fill('input[name=confirm]', password);
    await page.fill('input[name=code]', totp(secret, currentStep()));
    await submit(page.locator('button:has-text("Enregistrer et me connecter")'));
    check(page.url().endsWith('/dashboard/degradations'), 'accepting the invitation (password + TOTP) signs in: ' + page.url());

    // 2. Sign out, then in again: e-mail, password, then a TOTP code. A code
    // is taken once per step, so use the next step's (±1 step is accepted).
    await submit(page.locator('button:has-text("Se déconnecter")'));
    check(page.url().endsWith('/dashboard/connexion'), 'signed out');
    await page.fill('input[name=email]', email);
    await page.fill('input[name=password]', password);
    await submit(page.locator('button:has-text("Se connecter")'));
    check(page.url().endsWith('/dashboard/connexion/code'), 'the password is right; the page asks for the TOTP code');
    const valid = [-1, 0, 1, 2].map((d) => totp(secret, currentStep() + d));
    let wrong = 0;
    while (valid.includes(String(wrong).padStart(6, '0'))) wrong += 1;
    await page.fill('input[name=code]', String(wrong).padStart(6, '0'));
    await submit(page.locator('button:has-text("Valider")'));
    check(page.url().endsWith('/dashboard/connexion/code') && (await page.textContent('body')).includes('Code incorrect'),
      'a wrong TOTP code does not open the dashboard');
    await page.fill('input[name=code]', totp(secret, currentStep() + 1));
    await submit(page.locator('button:has-text("Valider")'));
    check(page.url().endsWith('/dashboard/degradations'), 'e-mail, password and TOTP code sign in: ' + page.url());
    await shot('s02-degradations');

    // 3. The reports.
    await page.goto(base + '/dashboard/signalements/' + ids.r1);
    const forward = page.locator('form#transmettre');
    await forward.locator('select[name=to]').selectOption('bailleur');
    await forward.locator('input[name=reference]').fill('BX-4471');
    await forward.locator('input[name=comment]').fill('Transmis au bailleur par la superviseure');
    await submit(forward.locator('button:has-text("Transmettre")'));
    check(((await page.textContent('#notice')) || '').trim().length > 0, 'R1 forwarded: ' + (await page.textContent('#notice')).trim());
    check((await main()).includes('BX-4471'), "R1's page shows the body's reference");
    await shot('s03-transmis');

    const comment = page.locator('form#commentaire');
    await comment.locator('[name=text]').fill('Serrurier prévenu, passage prévu jeudi');
    await submit(comment.locator('button:has-text("Ajouter le commentaire")'));
    check((await main()).includes('Serrurier prévenu'), "R1's page shows the supervisor's comment");

    await page.goto(base + '/dashboard/signalements/' + ids.r2);
    await submit(page.locator('form.statut button:has-text("Clôturer (vérifié sur place)")'));
    check(((await page.textContent('#notice')) || '').trim().length > 0, 'R2 closed: ' + (await page.textContent('#notice')).trim());
    await shot('s04-cloture');

    await page.goto(base + '/dashboard/signalements/' + ids.r3);
    const conflict = page.locator('form.conflit');
    check(await conflict.count() === 1 && (await conflict.textContent()).includes('Bât. B, entrée 2')
      && (await conflict.textContent()).includes('Bât. B, entrée 3'), "R3's page shows the conflict on its place, with both phones' values");
    await shot('s05-conflit');
    // The value not shown (not pre-selected), so that what is saved is the
    // supervisor's choice and not the default.
    const other = conflict.locator('label').filter({ has: page.locator('input[name=choix]:not(:checked)') }).first();
    const chosen = (await other.textContent()).trim();
    check(chosen.startsWith('Bât. B, entrée'), 'the other value is offered: ' + chosen);
    await other.locator('input[name=choix]').check();
    fs.writeFileSync(path.join(downloads, 'r3-choice.txt'), chosen);
    await submit(conflict.locator('button:has-text("Trancher")'));
    check(((await page.textContent('#notice')) || '').trim().length > 0, 'R3 settled: ' + (await page.textContent('#notice')).trim());
    check(await page.locator('form.conflit').count() === 0, 'the conflict section is gone');
    check((await page.textContent('h1')).includes(chosen), 'R3 shows the chosen place');

    // 4. The resident: her file, then erasure with the note's redaction.
    await page.goto(base + '/dashboard/habitants/' + ids.contact);
    check((await main()).includes('Éloïse Dupré'), "the resident's page opens");
    await shot('s06-habitant');
    const json = await page.request.get(base + '/dashboard/habitants/' + ids.contact + '/dossier.json');
    check(json.ok(), 'dossier.json downloads (' + json.status() + ')');
    const jsonText = await json.text();
    fs.writeFileSync(path.join(downloads, 'dossier.json'), jsonText);
    JSON.parse(jsonText);
    check(jsonText.includes('Éloïse Dupré') && jsonText.includes(ids.note),
      "the JSON file holds the resident's name and the note that names her");
    const htmlFile = await page.request.get(base + '/dashboard/habitants/' + ids.contact + '/dossier.html');
    check(htmlFile.ok(), 'dossier.html downloads (' + htmlFile.status() + ')');
    const htmlText = await htmlFile.text();
    fs.writeFileSync(path.join(downloads, 'dossier.html'), htmlText);
    check(htmlText.includes('Dossier') && htmlText.includes('Éloïse Dupré'), 'the HTML file is the French « Dossier » of the resident');

    await page.goto(base + '/dashboard/habitants/' + ids.contact + '/effacement');
    const redact = page.locator('input[name=caviarder][value="' + ids.note + '"]');
    check(await redact.count() === 1 && await redact.isChecked(), 'the erasure page lists the note naming her, checked for redaction');
    await shot('s07-effacement');
    await submit(page.locator('button:has-text("Effacer définitivement")'));
    check((await page.textContent('body')).includes('Fiche effacée'), 'the resident is erased: « Fiche effacée »');
    await shot('s08-efface');

    // 5. The access log: one entry per step, with the supervisor's name.
    await page.goto(base + '/dashboard/journal');
    await shot('s09-journal');
    const rows = await page.$$eval('main table tbody tr', (trs) => trs.map((tr) => Array.from(tr.cells).map((c) => c.textContent.trim())));
    // Each of the supervisor's entries: [action, record ids shown].
    const mine = rows.filter((r) => r[1] === who).map((r) => [r[4], r[6]]);
    const has = (re, id, what) => check(mine.some(([a, rec]) => re.test(a) && (!id || rec.includes(id))),
      'the access log shows: ' + what);
    has(/^invitation acceptée/, null, 'the invitation accepted');
    has(/^double authentification activée$/, null, 'TOTP enrolled');
    has(/^connexion refusée : code incorrect/, null, 'the wrong TOTP code refused');
    has(/^connexion \(avec code\)$/, null, 'the sign-in with a code');
    has(/^signalement transmis$/, ids.r1, 'R1 forwarded');
    has(/^commentaire sur le signalement$/, ids.r1, 'the comment on R1');
    has(/^signalement clôturé$/, ids.r2, 'R2 closed');
    has(/^conflit tranché/, ids.r3, "R3's conflict settled");
    has(/^fiche habitant$/, ids.contact, "the resident's page read");
    has(/^dossier RGPD \(accès\) JSON$/, ids.contact, "the resident's JSON file downloaded");
    has(/^dossier RGPD \(accès\) document$/, ids.contact, "the resident's HTML file downloaded");
    has(/^caviardage du nom après effacement$/, ids.note, 'the note redacted');
    has(/^effacement \(droit à l'effacement\)$/, ids.contact, 'the resident erased');
    const logText = rows.map((r) => r.join(' ')).join('\n');
    check(!logText.includes('Dupré') && !logText.includes('eloise'), "the access log never shows the resident's name");

    check(outside.length === 0, 'no request left the server (' + outside.join(', ') + ')');
  } finally {
    await browser.close();
    fs.rmSync(userDir, { recursive: true, force: true });
  }
})().catch((e) => { console.error(e); process.exit(1); });
