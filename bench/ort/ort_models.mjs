// The ONNX Runtime side of the real-model comparison (bench/compare_ort.sh):
// runs one model of bench/models with onnxruntime-node on the same input
// files Stoa read, times session.run, and compares ORT's outputs with the
// outputs Stoa wrote (stoa-bench-onnx --outputs DIR).
//
//   node ort_models.mjs ORT_PACKAGE_DIR NAME MODEL_FILE INPUT_SPECS THREADS MIN_SECONDS [STOA_OUT_DIR]
//
// INPUT_SPECS: NAME=DATATYPE:D0xD1:FILE;... as in models.tsv. Prints
//   RESULT engine=ort model=NAME threads=T p50_us=... cpu_p50_us=... runs=...
//   CHECK model=NAME threads=T max_abs=... max_rel=... worst=OUTPUT
// (CHECK only when STOA_OUT_DIR has Stoa's outputs; max_rel is
// |stoa - ort| / max(|ort|, 1e-3) over all elements), or
//   UNSUPPORTED engine=ort model=NAME reason=...
// cpu_p50_us is the median process CPU time per call (user + system; less
// sensitive than wall time to other load on a shared machine).
// Threads: intraOpNumThreads = THREADS, one inter-op thread, sequential
// execution, every graph optimisation on (ORT's defaults for a server).
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";

const [ortDir, name, modelFile, specs, threadsArg, minSecondsArg, stoaOut] = process.argv.slice(2);
const threads = Number(threadsArg);
const minSeconds = Number(minSecondsArg);
const require = createRequire(import.meta.url);
const ort = require(path.resolve(ortDir));

const types = {
  FP32: ["float32", Float32Array], FP64: ["float64", Float64Array], INT32: ["int32", Int32Array],
  INT64: ["int64", BigInt64Array], UINT8: ["uint8", Uint8Array], INT8: ["int8", Int8Array],
  BOOL: ["bool", Uint8Array],
};

function typedView(Array, buffer) {
  const b = Buffer.from(buffer);
  const copy = new Uint8Array(b.length);
  copy.set(b);
  return new Array(copy.buffer, 0, b.length / Array.BYTES_PER_ELEMENT);
}

function feedsFrom(specString) {
  const feeds = {};
  for (const spec of specString.split(";")) {
    const eq = spec.indexOf("=");
    const rest = spec.slice(eq + 1);
    const c1 = rest.indexOf(":"), c2 = rest.indexOf(":", c1 + 1);
    const [type, dims, file] = [rest.slice(0, c1), rest.slice(c1 + 1, c2), rest.slice(c2 + 1)];
    const shape = dims === "" ? [] : dims.split("x").map(Number);
    const [ortType, Array] = types[type];
    feeds[spec.slice(0, eq)] = new ort.Tensor(ortType, typedView(Array, fs.readFileSync(file)), shape);
  }
  return feeds;
}

function compare(outputs, names) {
  const index = fs.readFileSync(path.join(stoaOut, "outputs.tsv"), "utf8").trim().split("\n");
  let maxAbs = 0, maxRel = 0, worst = "";
  index.forEach((line, i) => {
    const [outName, type] = line.split("\t");
    const ortOut = outputs[outName] ?? outputs[names[i]];
    const stoa = typedView(types[type][1], fs.readFileSync(path.join(stoaOut, `${i}.bin`)));
    if (!ortOut || ortOut.data.length !== stoa.length) {
      maxAbs = Infinity; maxRel = Infinity; worst = `${outName} (size differs)`;
      return;
    }
    for (let k = 0; k < stoa.length; ++k) {
      const o = Number(ortOut.data[k]), s = Number(stoa[k]);
      const abs = Math.abs(s - o);
      const rel = abs / Math.max(Math.abs(o), 1e-3);
      if (abs > maxAbs || Number.isNaN(abs)) { maxAbs = Number.isNaN(abs) ? Infinity : abs; worst = outName; }
      if (rel > maxRel) maxRel = rel;
    }
  });
  return { maxAbs, maxRel, worst };
}

let session;
try {
  session = await ort.InferenceSession.create(modelFile, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: "sequential",
    graphOptimizationLevel: "all",
  });
} catch (e) {
  console.log(`UNSUPPORTED engine=ort model=${name} reason=${String(e.message).split("\n")[0]}`);
  process.exit(0);
}
const feeds = feedsFrom(specs);
let outputs;
const warmUntil = process.hrtime.bigint() + 300_000_000n;
for (let i = 0; i < 3 || process.hrtime.bigint() < warmUntil; ++i) outputs = await session.run(feeds);
const times = [], cpuTimes = [];
const until = process.hrtime.bigint() + BigInt(Math.round(minSeconds * 1e9));
while (times.length < 5 || process.hrtime.bigint() < until) {
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  outputs = await session.run(feeds);
  times.push(Number(process.hrtime.bigint() - start) / 1000);
  const used = process.cpuUsage(cpu);
  cpuTimes.push(used.user + used.system);
}
const median = (v) => v.sort((a, b) => a - b)[Math.floor(v.length / 2)];
console.log(`RESULT engine=ort model=${name} threads=${threads} ` +
  `p50_us=${median(times).toFixed(2)} cpu_p50_us=${median(cpuTimes).toFixed(2)} runs=${times.length}`);
if (stoaOut && fs.existsSync(path.join(stoaOut, "outputs.tsv"))) {
  const { maxAbs, maxRel, worst } = compare(outputs, session.outputNames);
  console.log(`CHECK model=${name} threads=${threads} max_abs=${maxAbs.toExponential(2)} ` +
    `max_rel=${maxRel.toExponential(2)} worst=${worst.replace(/\s/g, "_")}`);
}
