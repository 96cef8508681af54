// Convert one bibliography file with Citation.js, as a whole process, for the benchmark.
//
// usage: node citationjs_convert.mjs MODULES_DIR FROM TO INPUT OUTPUT
//   MODULES_DIR  the folder whose node_modules holds @citation-js/* (benchmarks/.work/node)
//   FROM, TO     ris | bibtex | csl-json
//
// The packages live outside the repository, so they are loaded with a require() rooted
// in MODULES_DIR rather than with bare ESM imports (which resolve next to this file).
import { readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join, resolve } from 'node:path'

const [modulesDir, from, to, input, output] = process.argv.slice(2)
if (!output) {
  console.error('usage: node citationjs_convert.mjs MODULES_DIR FROM TO INPUT OUTPUT')
  process.exit(2)
}

const require = createRequire(join(resolve(modulesDir), 'package.json'))
const { Cite } = require('@citation-js/core')
require('@citation-js/plugin-bibtex')
require('@citation-js/plugin-ris')
require('@citation-js/plugin-csl')

// Name the input type so no time goes to Citation.js guessing it.
const inputTypes = { ris: '@ris/file', bibtex: '@biblatex/text', 'csl-json': '@csl/list+object' }
const outputStyles = { ris: 'ris', bibtex: 'bibtex', 'csl-json': 'data' }
if (!(from in inputTypes) || !(to in outputStyles)) {
  console.error(`unknown format: ${from} -> ${to}`)
  process.exit(2)
}

const text = readFileSync(input, 'utf8')
const data = from === 'csl-json' ? JSON.parse(text) : text
const cite = new Cite(data, { forceType: inputTypes[from] })
writeFileSync(output, cite.format(outputStyles[to], { format: 'text' }))
console.error(`citation-js: ${cite.data.length} records`)
