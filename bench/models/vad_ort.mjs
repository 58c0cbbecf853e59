// The ONNX Runtime side of bench/models/check_vad.sh: writes a stream of
// audio-like chunks (tones, a chirp, noise bursts and silence from a seeded
// generator) as raw little-endian FP32 to CHUNKS_OUT, then runs silero VAD
// v4 on it chunk by chunk with onnxruntime-node (one intra-op thread),
// carrying hn/cn into h/c, and prints one JSON object like stoa-vad-check:
//   {"engine":"ort","probs":[...],"hn":[...],"cn":[...],"p50_us":...}
//
//   node vad_ort.mjs ORT_PACKAGE_DIR MODEL CHUNKS_OUT N_CHUNKS CHUNK [PASSES]
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";

const [ortDir, model, chunksOut, nArg, chunkArg, passesArg] = process.argv.slice(2);
if (!ortDir || !model || !chunksOut) {
  console.error("usage: node vad_ort.mjs ORT_PACKAGE_DIR MODEL CHUNKS_OUT N_CHUNKS CHUNK [PASSES]");
  process.exit(2);
}
const nChunks = Number(nArg ?? "16");
const chunk = Number(chunkArg ?? "512");
const passes = Number(passesArg ?? "20");
const require = createRequire(import.meta.url);
const ort = require(path.resolve(ortDir));

// Deterministic audio at 16 kHz: per chunk one of silence, a tone, a chirp
// or noise, at varying loudness.
let seed = 12345;
function rand() {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
}
const audio = new Float32Array(nChunks * chunk);
for (let k = 0; k < nChunks; ++k) {
  const kind = k % 4, gain = 0.05 + 0.4 * rand();
  for (let i = 0; i < chunk; ++i) {
    const t = (k * chunk + i) / 16000;
    let v = 0;
    if (kind === 1) v = Math.sin(2 * Math.PI * 220 * t) + 0.5 * Math.sin(2 * Math.PI * 660 * t);
    if (kind === 2) v = Math.sin(2 * Math.PI * (200 + 3000 * t) * t);
    if (kind === 3) v = 2 * rand() - 1;
    audio[k * chunk + i] = gain * v + 0.001 * (2 * rand() - 1);
  }
}
fs.writeFileSync(chunksOut, Buffer.from(audio.buffer));

const session = await ort.InferenceSession.create(model, {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: "sequential",
});
const times = [];
let probs = [], h, c;
for (let pass = 0; pass < passes; ++pass) {
  probs = [];
  h = new ort.Tensor("float32", new Float32Array(128), [2, 1, 64]);
  c = new ort.Tensor("float32", new Float32Array(128), [2, 1, 64]);
  for (let k = 0; k < nChunks; ++k) {
    const feeds = {
      input: new ort.Tensor("float32", audio.slice(k * chunk, (k + 1) * chunk), [1, chunk]),
      sr: new ort.Tensor("int64", BigInt64Array.from([16000n]), []),
      h,
      c,
    };
    const start = process.hrtime.bigint();
    const out = await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - start) / 1000);
    probs.push(out.output.data[0]);
    h = out.hn;
    c = out.cn;
  }
}
times.sort((a, b) => a - b);
console.log(JSON.stringify({
  engine: "ort",
  probs,
  hn: Array.from(h.data),
  cn: Array.from(c.data),
  p50_us: Number(times[Math.floor(times.length / 2)].toFixed(2)),
}));
