// The README's screenshot of a sweep in the MLflow UI, taken in headless Chromium (Debian's
// `chromium`) with playwright-core (npm), as a reader would see it:
//
//   mlflow server --backend-store-uri sqlite:///$PWD/.unimo/mlflow.db --host 127.0.0.1 --port 5000 &
//   npm install playwright-core && node docs/mlflow_screenshot.js \
//     "http://127.0.0.1:5000/#/experiments/1/runs?searchFilter=tags.mlflow.parentRunId%20%3D%20'<sweep run id>'&compareRunsMode=CHART" \
//     docs/images/mlflow_sweep.png val/mpjpe_mm
//
// It closes the assistant panel, expands the sweep's parent run to show its trials, and
// filters the charts to the given metric.
const { chromium } = require('playwright-core');
(async () => {
  const [url, out] = process.argv.slice(2);
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  const page = await browser.newPage({ viewport: { width: 1700, height: 1150 } });
  await page.goto(url);
  await page.waitForTimeout(6000);
  // close the assistant side panel, if shown
  const close = page.locator('[aria-label*="lose"]').last();
  try { await close.click({ timeout: 2000 }); } catch (e) { console.log('no close button'); }
  // expand the parent run to show its children
  const expand = page.locator('button[data-component-id*="runnamecellrenderer"]').first();
  try { await expand.click({ timeout: 3000 }); } catch (e) { console.log('no expand button'); }
  const filter = process.argv[4];
  if (filter) { await page.getByPlaceholder('Search metric charts').fill(filter); }
  await page.waitForTimeout(4000);
  await page.screenshot({ path: out });
  await browser.close();
})();
