'use strict'
// The compile worker: a child process the runtime starts for large guests (see src/compile.rs).
// It reads the guest on stdin, compiles it with this same addon, writes the artifact where its one
// JSON argument says, and answers with one JSON line. Its compiler memory dies with it.
const { runCompileWorker } = require('../binding.js')

process.stdout.write(`${runCompileWorker(process.argv[2] || '')}\n`)
