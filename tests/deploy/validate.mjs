// Validates Kubernetes objects (a JSON array on stdin) against the API
// schemas: kubernetes-models (the OpenAPI-derived JSON schemas of the
// Kubernetes API) and @kubernetes-models/prometheus-operator (the
// monitoring.coreos.com CRDs). Each object is checked by the model class of
// its apiVersion and kind; an unknown apiVersion/kind is an error too.
// Prints one line per object; exit 1 when any is invalid.
//
//   node validate.mjs LABEL < objects.json    (NODE_PATH is not used by ESM:
//   run it with the packages' node_modules as a sibling or parent, see
//   validate.sh)
import { readFileSync } from "node:fs";

const label = process.argv[2] ?? "stdin";
const objects = JSON.parse(readFileSync(0, "utf8"));

async function modelFor(apiVersion, kind) {
  const modules = apiVersion.startsWith("monitoring.coreos.com/")
    ? [`@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`]
    : [`kubernetes-models/${apiVersion}/${kind}`];
  for (const name of modules) {
    try {
      const module = await import(name);
      if (module[kind]) return module[kind];
    } catch (e) {
      if (e.code !== "ERR_MODULE_NOT_FOUND" && e.code !== "ERR_PACKAGE_PATH_NOT_EXPORTED") throw e;
    }
  }
  return null;
}

let failed = 0;
for (const object of objects) {
  const what = `${label}: ${object.apiVersion} ${object.kind} ${object.metadata?.name ?? "?"}`;
  const Model = await modelFor(object.apiVersion ?? "", object.kind ?? "");
  if (Model === null) {
    console.log(`INVALID ${what}: no schema for this apiVersion and kind`);
    ++failed;
    continue;
  }
  try {
    new Model(object).validate();
    console.log(`ok      ${what}`);
  } catch (e) {
    const details = e.errors ? JSON.stringify(e.errors, null, 0) : String(e.message ?? e);
    console.log(`INVALID ${what}: ${details}`);
    ++failed;
  }
}
console.log(`${label}: ${objects.length - failed} of ${objects.length} objects valid`);
process.exit(failed === 0 ? 0 : 1);
