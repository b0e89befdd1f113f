#!/usr/bin/env node
// Compile Drexfy's Solidity sources with npm `solc` (solcjs, pinned in package.json) through its
// standard-JSON API and write one JSON artifact per contract (ABI, bytecode, compiler version and
// settings, source hash).
//
//   node tools/build-contracts.js                 # writes the committed artifacts
//   node tools/build-contracts.js --check         # recompiles and fails if they differ
//   node tools/build-contracts.js --out DIR --bench-out DIR   # write elsewhere
//
// Imports such as "@openzeppelin/contracts/..." resolve from node_modules/.
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const solc = require('solc');

const ROOT = path.resolve(__dirname, '..');
const SETTINGS = {
  // Paris: no PUSH0/MCOPY/TSTORE, so the bytecode runs on every Moonbeam runtime and any EVM chain.
  evmVersion: 'paris',
  optimizer: { enabled: true, runs: 1000000 },
  metadata: { bytecodeHash: 'none' },
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
};

const GROUPS = [
  { name: 'suite', dir: 'contracts', out: 'src/drexfy/adapters/evm/artifacts' },
  { name: 'bench', dir: 'bench/contracts', out: 'bench/contracts/artifacts' },
];

function findImports(importPath) {
  const candidates = [path.join(ROOT, 'node_modules', importPath), path.join(ROOT, importPath)];
  for (const file of candidates) {
    if (fs.existsSync(file)) return { contents: fs.readFileSync(file, 'utf8') };
  }
  return { error: `not found: ${importPath}` };
}

function compile(group) {
  const dir = path.join(ROOT, group.dir);
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.sol')).sort();
  const sources = {};
  for (const f of files) {
    sources[`${group.dir}/${f}`] = { content: fs.readFileSync(path.join(dir, f), 'utf8') };
  }
  const input = { language: 'Solidity', sources, settings: SETTINGS };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const errors = (output.errors || []).filter((e) => e.severity === 'error');
  for (const e of output.errors || []) process.stderr.write(`${e.formattedMessage}\n`);
  if (errors.length) throw new Error(`${errors.length} compile error(s) in ${group.dir}`);

  // Hash every source that went into the compilation, imports included, in a stable order.
  const used = Object.keys(output.sources).sort();
  const hash = crypto.createHash('sha256');
  for (const p of used) {
    const content = sources[p] ? sources[p].content : findImports(p).contents;
    hash.update(p).update('\0').update(content).update('\0');
  }
  const sourceHash = hash.digest('hex');

  const artifacts = {};
  for (const sourceName of Object.keys(output.contracts).sort()) {
    if (!sourceName.startsWith(`${group.dir}/`)) continue;
    for (const [contractName, c] of Object.entries(output.contracts[sourceName])) {
      const bytecode = c.evm.bytecode.object;
      if (!bytecode || c.abi.length === 0) continue; // interfaces, abstract contracts, constant-only libraries
      artifacts[`${contractName}.json`] = {
        contractName,
        sourceName,
        abi: c.abi,
        bytecode: `0x${bytecode}`,
        deployedBytecode: `0x${c.evm.deployedBytecode.object}`,
        compiler: { name: 'solc', version: solc.version() },
        settings: { evmVersion: SETTINGS.evmVersion, optimizer: SETTINGS.optimizer, metadata: SETTINGS.metadata },
        sourceHash,
      };
    }
  }
  artifacts['manifest.json'] = {
    compiler: { name: 'solc', version: solc.version() },
    settings: { evmVersion: SETTINGS.evmVersion, optimizer: SETTINGS.optimizer, metadata: SETTINGS.metadata },
    sourceHash,
    sources: used,
    contracts: Object.keys(artifacts).map((f) => f.replace(/\.json$/, '')).sort(),
  };
  return artifacts;
}

function main() {
  const args = process.argv.slice(2);
  const check = args.includes('--check');
  const outIdx = args.indexOf('--out');
  const benchIdx = args.indexOf('--bench-out');
  const overrides = {
    suite: outIdx >= 0 ? path.resolve(args[outIdx + 1]) : null,
    bench: benchIdx >= 0 ? path.resolve(args[benchIdx + 1]) : null,
  };
  let stale = [];
  for (const group of GROUPS) {
    const artifacts = compile(group);
    const outDir = overrides[group.name] || path.join(ROOT, group.out);
    if (check) {
      for (const [file, data] of Object.entries(artifacts)) {
        const target = path.join(outDir, file);
        const want = `${JSON.stringify(data, null, 2)}\n`;
        if (!fs.existsSync(target) || fs.readFileSync(target, 'utf8') !== want) stale.push(target);
      }
      continue;
    }
    fs.mkdirSync(outDir, { recursive: true });
    for (const f of fs.readdirSync(outDir)) if (f.endsWith('.json')) fs.unlinkSync(path.join(outDir, f));
    for (const [file, data] of Object.entries(artifacts)) {
      fs.writeFileSync(path.join(outDir, file), `${JSON.stringify(data, null, 2)}\n`);
    }
    process.stdout.write(`${group.dir}: ${Object.keys(artifacts).length - 1} artifact(s) -> ${path.relative(ROOT, outDir)}\n`);
  }
  if (check) {
    if (stale.length) {
      process.stderr.write(`stale artifacts (run \`make contracts\`):\n  ${stale.join('\n  ')}\n`);
      process.exit(1);
    }
    process.stdout.write('artifacts match the sources\n');
  }
}

main();
