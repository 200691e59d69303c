// One side of the Hypercore half of contrib/bench-peers.sh (make bench-peers).
// Nothing here is used by twind; it measures the same records with another
// peer-to-peer log, pinned in package-lock.json, for comparison.
//
//   node hypercore-peer.js writer DIR ENTRIES_BIN INFO_FILE
//     Creates a Hypercore in DIR (its default storage: hypercore-storage, on
//     RocksDB, in Hypercore 11), appends every record of ENTRIES_BIN as one block (the msgpack
//     envelopes twind stores, as bench_ingest writes them: each preceded by a
//     4-byte big-endian length), listens on 127.0.0.1 (a free port) and
//     writes INFO_FILE (JSON: port, key, length, byteLength) once it serves.
//     Each TCP connection is piped into core.replicate(false): no DHT, no
//     swarm, Hypercore's own Noise stream over a plain socket.  Runs until
//     SIGTERM (or 30 minutes).
//
//   node hypercore-peer.js reader DIR ENTRIES_BIN INFO_FILE
//     A separate process: opens an empty core for the writer's key in DIR,
//     dials 127.0.0.1:port, downloads blocks 0..length-1 and reports the time
//     from its own start until every block is stored (each one checked by
//     Hypercore against the signed Merkle tree as it arrives), the bytes on
//     its socket and its peak memory at that moment; then it compares every
//     stored block with the record of ENTRIES_BIN at the same index.  Exit 0
//     only when all are there and equal.  Gives up after READER_TIMEOUT_S
//     seconds (default 600).
//
// Output: lines "key value" on stdout for the shell to read; errors on stderr.
'use strict'

const T0 = process.hrtime.bigint()
const fs = require('fs')
const net = require('net')
const Hypercore = require('hypercore')

const secs = () => Number(process.hrtime.bigint() - T0) / 1e9
const fail = (msg) => { console.error('hypercore-peer: ' + msg); process.exit(1) }

function vm (field) {
  const m = fs.readFileSync('/proc/self/status', 'utf8').match(new RegExp('^' + field + ':\\s+(\\d+) kB', 'm'))
  return m ? Number(m[1]) : 0
}

// Reads ENTRIES_BIN a chunk at a time and calls fn(record, index) for each
// record, so that the reader's memory is not inflated by the file itself.
function eachRecord (file, fn) {
  const fd = fs.openSync(file, 'r')
  const size = fs.fstatSync(fd).size
  let pos = 0
  let i = 0
  const hdr = Buffer.alloc(4)
  let buf = Buffer.alloc(4096)
  try {
    while (pos < size) {
      if (size - pos < 4 || fs.readSync(fd, hdr, 0, 4, pos) !== 4) throw new Error(file + ': cut short at byte ' + pos)
      const len = hdr.readUInt32BE(0)
      // bench_ingest's envelopes are under 700 bytes; the protocol's own cap
      // on an entry is far below 1 MiB.
      if (len === 0 || len > 1 << 20 || len > size - pos - 4) throw new Error(file + ': bad record length ' + len + ' at byte ' + pos)
      if (len > buf.length) buf = Buffer.alloc(len)
      if (fs.readSync(fd, buf, 0, len, pos + 4) !== len) throw new Error(file + ': short read at byte ' + pos)
      fn(buf.subarray(0, len), i++)
      pos += 4 + len
    }
  } finally {
    fs.closeSync(fd)
  }
  return i
}

async function writer (dir, file, infoFile) {
  const core = new Hypercore(dir)
  await core.ready()
  if (core.length !== 0) fail('writer: ' + dir + ' already holds a core of ' + core.length + ' blocks (give an empty folder)')
  const t = secs()
  // Appends of 1000 blocks: one signed tree root per append, as twind's
  // bench_ingest commits 1000 entries per job.
  const batches = [[]]
  let bytes = 0
  const n = eachRecord(file, (rec) => {
    if (batches[batches.length - 1].length === 1000) batches.push([])
    batches[batches.length - 1].push(Buffer.from(rec))
    bytes += rec.length
  })
  for (const b of batches) if (b.length) await core.append(b)
  if (core.length !== n || core.byteLength !== bytes) fail('writer: appended ' + core.length + ' blocks, ' + core.byteLength + ' bytes, expected ' + n + ', ' + bytes)
  console.log('appended ' + n + ' ' + bytes + ' ' + (secs() - t).toFixed(2))

  const server = net.createServer((sock) => {
    const s = core.replicate(false)
    sock.on('error', () => {})
    s.on('error', () => {})
    sock.pipe(s).pipe(sock)
    sock.on('close', () => console.log('served ' + sock.bytesRead + ' ' + sock.bytesWritten))
  })
  server.listen(0, '127.0.0.1', () => {
    const info = { port: server.address().port, key: core.key.toString('hex'), length: core.length, byteLength: core.byteLength }
    fs.writeFileSync(infoFile + '.tmp', JSON.stringify(info))
    fs.renameSync(infoFile + '.tmp', infoFile)
  })
  const stop = () => { server.close(); core.close().then(() => process.exit(0), () => process.exit(0)) }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  setTimeout(() => fail('writer: still running after 30 minutes'), 30 * 60 * 1000).unref()
  // Keeps the process alive while it serves (the server holds the loop too).
}

async function reader (dir, file, infoFile) {
  const limit = Number(process.env.READER_TIMEOUT_S || 600)
  setTimeout(() => fail('reader: not done after ' + limit + ' s'), limit * 1000).unref()
  const info = JSON.parse(fs.readFileSync(infoFile, 'utf8'))
  const core = new Hypercore(dir, Buffer.from(info.key, 'hex'))
  await core.ready()
  const sock = net.connect(info.port, '127.0.0.1')
  const s = core.replicate(true)
  let closing = false
  sock.on('error', (e) => closing || fail('reader: socket: ' + e.message))
  s.on('error', (e) => closing || fail('reader: replication stream: ' + e.message))
  sock.pipe(s).pipe(sock)
  // Learn the writer's length (its signed tree root), then fetch every block.
  while (core.length < info.length) await core.update({ wait: true })
  await core.download({ start: 0, end: info.length }).done()
  if (core.contiguousLength !== info.length) fail('reader: ' + core.contiguousLength + ' of ' + info.length + ' blocks after the download')
  const tAll = secs()
  const hwm = vm('VmHWM')
  const cpu = process.cpuUsage()
  const anon = vm('RssAnon')
  const fileBacked = vm('RssFile')
  const bin = sock.bytesRead
  const bout = sock.bytesWritten
  // The wall clock too (ms since the epoch), for the shell to time from
  // before this process started, as it times twind's receiver.
  console.log('all ' + info.length + ' ' + core.byteLength + ' ' + tAll.toFixed(3) + ' ' + Math.round(performance.timeOrigin + performance.now()))
  console.log('wire ' + bin + ' ' + bout)
  console.log('memory ' + hwm + ' ' + anon + ' ' + fileBacked)
  console.log('cpu ' + ((cpu.user + cpu.system) / 1e6).toFixed(2))

  // Every block as stored, against the record the writer appended.
  const t = secs()
  const blocks = []
  for (let i = 0; i < info.length; i++) blocks.push(core.get(i, { wait: false }))
  const got = await Promise.all(blocks)
  let bad = 0
  let firstBad = -1
  const n = eachRecord(file, (rec, i) => {
    if (i >= got.length || !got[i] || !rec.equals(got[i])) { bad++; if (firstBad < 0) firstBad = i }
  })
  if (n !== info.length) { bad += Math.abs(n - info.length); if (firstBad < 0) firstBad = Math.min(n, info.length) }
  console.log('verified ' + (info.length - bad) + ' ' + bad + ' ' + (secs() - t).toFixed(2))
  closing = true
  sock.destroy()
  await core.close()
  if (bad) fail('reader: ' + bad + ' blocks differ from the records (first at index ' + firstBad + ')')
  process.exit(0)
}

const [mode, dir, file, infoFile] = process.argv.slice(2)
if (!infoFile || (mode !== 'writer' && mode !== 'reader')) fail('usage: hypercore-peer.js writer|reader DIR ENTRIES_BIN INFO_FILE')
;(mode === 'writer' ? writer : reader)(dir, file, infoFile).catch((e) => fail(mode + ': ' + (e && e.stack ? e.stack : e)))
