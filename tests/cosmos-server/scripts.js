// Stored procedures and triggers, which @vercel/cosmosdb-server 1.0.1 lacks (it has UDFs only), as the service runs
// them: resources under dbs/{db}/colls/{coll}/sprocs and .../triggers (create, upsert, read, replace, delete, list,
// query), a stored procedure run in one logical partition (POST .../sprocs/{id}, the body the JSON array of its
// arguments), and pre/post triggers on document writes (x-ms-documentdb-pre/post-trigger-include).
//
// Scripts run in a `vm` context with the server-side API they use: getContext().getCollection() (create, upsert,
// read, replace, delete, query and read documents of the request's partition, with callbacks), getRequest() and
// getResponse() (getBody/setBody), console.log (returned URL-encoded in x-ms-documentdb-script-log-results when
// x-ms-documentdb-script-enable-logging is set) and __ (the collection, as the service aliases it). A script is one
// transaction: when it throws, or a post-trigger does, every write it made is undone. Its time is bounded (5 s, as
// the service bounds it), then 408.
"use strict";
const vm = require("vm");
const path = require("path");

const SCRIPT_TIMEOUT_MS = 5000;

module.exports = function scriptsFor(LIB, { errorBody, pkHeader, pkPaths, docMatchesPk, PK_REQUIRED }) {
  const Items = require(path.join(LIB, "account", "items")).default;
  const Item = require(path.join(LIB, "account", "item")).default;
  const ResourceId = require(path.join(LIB, "account", "resource-id")).default;

  // One collection's stored procedures (segment "sprocs") or triggers ("triggers"), stored like the package's UDFs.
  class Scripts extends Items {
    constructor(collection, segment) {
      super(collection, ["/id"]);
      this.segment = segment;
    }
    _newItem(data) { return new Item(data); }
    _rid(id) {
      const buffer = Buffer.alloc(8, 0);
      buffer.writeInt32LE(id, 0);
      const sproc = this.segment === "sprocs";
      buffer.writeUInt8((sproc ? ResourceId.StoredProcedureByte : ResourceId.TriggerByte) << 4, 7);
      const rid = ResourceId.parse(this._parent.read()._rid);
      rid[sproc ? "storedProcedure" : "trigger"] = ResourceId.bigNumberReadIntBE(buffer, 0, 8).toString();
      return rid.toString();
    }
    _self(rid) { return `${this._parent.read()._self.replace(/^\/+|\/+$/g, "")}/${this.segment}/${rid}/`; }
    find(id) { return this._item("/id", id, id).read(); }
  }
  const scriptsOf = (coll, segment) => {
    const key = segment === "sprocs" ? "__storedProcedures" : "__triggers";
    if (!coll[key]) coll[key] = new Scripts(coll, segment);
    return coll[key];
  };

  class ScriptError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }
  const fail = (status, code, message) => { throw new ScriptError(status, code, message); };

  // ------------------------------------------------------------ the documents a script may touch
  // Every write goes through the package's collection, so reads, queries and the feed see it at once; the
  // snapshot taken before the script restores the collection when the transaction aborts.
  function snapshot(coll) {
    const docs = coll.documents;
    return { data: new Map(docs._data), index: new Map(docs._index), count: docs._ridCount };
  }
  function restore(coll, saved) {
    const docs = coll.documents;
    docs._data = saved.data; docs._index = saved.index; docs._ridCount = saved.count;
  }

  function collectionApi(coll, dbId, collId, paths, pk) {
    const docs = coll.documents;
    const inPartition = doc => !paths.length || docMatchesPk(doc, paths, pk);
    const idOf = link => {
      const segs = String(link).replace(/\/+$/, "").split("/");
      return decodeURIComponent(segs[segs.length - 1]);
    };
    const find = id => [...docs._data.values()].map(i => i.read()).find(d => d && (d.id === id || d._rid === id) &&
      inPartition(d));
    const checkBody = doc => {
      if (!doc || typeof doc !== "object" || Array.isArray(doc)) fail(400, "BadRequest", "The document must be an object.");
      if (typeof doc.id !== "string" || !doc.id) fail(400, "BadRequest", "The input content is invalid because the required properties - 'id; ' - are missing");
      if (!inPartition(doc)) {
        fail(400, "BadRequest", "PartitionKey extracted from document doesn't match the one specified in the header");
      }
    };
    // The server-side SDK's calling convention: (args..., [options], [callback]); a callback receives
    // (error, resource, options), and without one a failed operation aborts the script.
    const operation = run => (...args) => {
      const callback = typeof args[args.length - 1] === "function" ? args.pop() : undefined;
      let result;
      try {
        result = run(...args);
      } catch (err) {
        const status = err instanceof ScriptError ? err.status : err.conflict ? 409 : 400;
        if (!callback) throw err instanceof ScriptError ? err : new ScriptError(status, "BadRequest", err.message);
        callback({ number: status, message: err.message, body: JSON.stringify(errorBody("Error", err.message)) });
        return true;
      }
      if (callback) callback(undefined, result, {});
      return true;
    };
    const api = {
      getSelfLink: () => coll.read()._self,
      getAltLink: () => `dbs/${dbId}/colls/${collId}`,
      createDocument: operation((link, doc) => {
        checkBody(doc);
        if (find(doc.id)) fail(409, "Conflict", "Resource with specified id or name already exists.");
        return docs.create(doc);
      }),
      upsertDocument: operation((link, doc) => { checkBody(doc); return docs.upsert(doc); }),
      readDocument: operation(link => find(idOf(link)) || fail(404, "NotFound", "Entity with the specified id does not exist in the system.")),
      replaceDocument: operation((link, doc) => {
        checkBody(doc);
        const old = find(idOf(link)) || fail(404, "NotFound", "Entity with the specified id does not exist in the system.");
        if (doc.id !== old.id) fail(400, "BadRequest", "The id in the request body does not match the id in the URL.");
        return docs.replace(doc, old);
      }),
      deleteDocument: operation(link => {
        const old = find(idOf(link)) || fail(404, "NotFound", "Entity with the specified id does not exist in the system.");
        docs.delete(old.id, docs._getPartition(old));
        return {};
      }),
      queryDocuments: operation((link, query) => {
        const spec = typeof query === "string" ? { query } : query;
        const scoped = Object.create(docs);
        scoped._data = new Map([...docs._data].filter(([, item]) => inPartition(item.read())));
        return docs.query.call(scoped, spec, {}).result;
      }),
      readDocuments: operation(() => [...docs._data.values()].map(i => i.read()).filter(inPartition)),
    };
    return api;
  }

  // Runs `body` (a function's source) with `args` in `context`; returns its console.log lines, or throws a ScriptError.
  function runScript(body, args, context) {
    const log = [];
    const sandbox = {
      getContext: () => context,
      __: context.getCollection(),
      console: { log: (...parts) => log.push(parts.map(p => (typeof p === "string" ? p : JSON.stringify(p))).join(" ")) },
    };
    vm.createContext(sandbox);
    try {
      const fn = vm.runInContext(`(${body})`, sandbox, { timeout: SCRIPT_TIMEOUT_MS });
      if (typeof fn !== "function") fail(400, "BadRequest", "The script body is not a function.");
      vm.runInContext("__run(__args)", Object.assign(sandbox, { __run: a => fn.apply(undefined, a), __args: args }),
        { timeout: SCRIPT_TIMEOUT_MS });
    } catch (err) {
      if (err instanceof ScriptError) throw err;
      if (err && err.code === "ERR_SCRIPT_EXECUTION_TIMEOUT") {
        fail(408, "RequestTimeout", "The script exceeded its allowed execution time.");
      }
      fail(400, "BadRequest", `Encountered exception while executing Javascript. Exception = ${err}`);
    }
    return log;
  }

  function responseOf(value) {
    let body = value;
    return { getBody: () => body, setBody: v => { body = v; }, appendValue: v => { body = (body || "") + v; },
      value: () => body };
  }

  // ------------------------------------------------------------ HTTP: script resources and execution
  const SCRIPT_PATH = /^\/dbs\/([^/]+)\/colls\/([^/]+)\/(sprocs|triggers)(?:\/([^/]+))?\/?$/;
  const isQuery = req => req.headers["x-ms-documentdb-isquery"] === "True" ||
    req.headers["x-ms-documentdb-isquery"] === "true" || req.headers["content-type"] === "application/query+json";

  function validate(segment, body) {
    if (!body || typeof body !== "object" || typeof body.id !== "string" || !body.id) {
      fail(400, "BadRequest", "The input content is invalid because the required properties - 'id; ' - are missing");
    }
    if (typeof body.body !== "string") {
      fail(400, "BadRequest", "The input content is invalid because the required properties - 'body; ' - are missing");
    }
    if (segment === "triggers") {
      if (!["pre", "post"].includes(String(body.triggerType).toLowerCase())) {
        fail(400, "BadRequest", "The trigger type must be Pre or Post.");
      }
      if (!["all", "create", "update", "delete", "replace", "upsert"].includes(String(body.triggerOperation).toLowerCase())) {
        fail(400, "BadRequest", "The trigger operation must be All, Create, Update, Delete, Replace or Upsert.");
      }
    }
  }

  // Answers [status, body, headers] for a script path, or undefined when the path is not one.
  function handleScripts(account, req, pathname) {
    const m = SCRIPT_PATH.exec(pathname);
    if (!m) return undefined;
    try {
      const [dbId, collId, segment, rawId] = [m[1], m[2], m[3], m[4]].map(s => (s === undefined ? s : decodeURIComponent(s)));
      const db = account.database(dbId);
      const coll = db.read() && db.collection(collId);
      if (!coll || !coll.read()) fail(404, "NotFound", "Resource Not Found");
      const scripts = scriptsOf(coll, segment);
      const body = req.cosmosBody;
      if (rawId === undefined) {
        if (req.method === "GET") {
          const items = [...scripts._data.values()].map(i => i.read());
          const key = segment === "sprocs" ? "StoredProcedures" : "Triggers";
          return [200, { _rid: coll.read()._rid, [key]: items, _count: items.length }];
        }
        if (req.method === "POST" && isQuery(req)) {
          const { result } = scripts.query(body, {});
          const key = segment === "sprocs" ? "StoredProcedures" : "Triggers";
          return [200, { _rid: coll.read()._rid, [key]: result, _count: result.length }];
        }
        if (req.method === "POST") {
          validate(segment, body);
          const upsert = String(req.headers["x-ms-documentdb-is-upsert"]).toLowerCase() === "true";
          if (!upsert && scripts.find(body.id)) fail(409, "Conflict", "Resource with specified id or name already exists.");
          const existed = Boolean(scripts.find(body.id));
          return [existed ? 200 : 201, upsert ? scripts.upsert(body) : scripts.create(body)];
        }
        fail(405, "MethodNotAllowed", `${req.method} is not allowed on ${segment}`);
      }
      const stored = scripts.find(rawId);
      if (!stored) fail(404, "NotFound", "Entity with the specified id does not exist in the system.");
      if (req.method === "GET") return [200, stored];
      if (req.method === "DELETE") { scripts.delete(stored.id, stored.id); return [204, undefined]; }
      if (req.method === "PUT") {
        validate(segment, body);
        if (body.id !== stored.id) fail(400, "BadRequest", "The id in the request body does not match the id in the URL.");
        return [200, scripts.replace(body, stored)];
      }
      if (req.method === "POST" && segment === "sprocs") return execute(coll, dbId, collId, stored, req, body);
      fail(405, "MethodNotAllowed", `${req.method} is not allowed here`);
    } catch (err) {
      if (err instanceof ScriptError) return [err.status, errorBody(err.code, err.message)];
      throw err;
    }
    return undefined;
  }

  function partitionOf(coll, req) {
    const paths = pkPaths(coll.read());
    const pk = pkHeader(req);
    if (pk === null) fail(400, "BadRequest", "The x-ms-documentdb-partitionkey header is not valid JSON.");
    if (paths.length && (pk === undefined || pk.length === 0)) fail(400, "BadRequest", PK_REQUIRED);
    return { paths, pk: pk || [] };
  }

  function execute(coll, dbId, collId, sproc, req, body) {
    const { paths, pk } = partitionOf(coll, req);
    const args = body === undefined ? [] : Array.isArray(body) ? body : [body];
    const response = responseOf(undefined);
    const context = {
      getCollection: () => collectionApi(coll, dbId, collId, paths, pk),
      getRequest: () => ({ getBody: () => args, setBody: () => {}, getValue: () => args }),
      getResponse: () => response,
    };
    const saved = snapshot(coll);
    let log;
    try {
      log = runScript(sproc.body, args, context);
    } catch (err) {
      restore(coll, saved);
      throw err;
    }
    const headers = {};
    if (String(req.headers["x-ms-documentdb-script-enable-logging"]).toLowerCase() === "true") {
      headers["x-ms-documentdb-script-log-results"] = encodeURIComponent(log.join("\n"));
    }
    const value = response.value();
    return [200, value === undefined ? undefined : value, headers];
  }

  // ------------------------------------------------------------ triggers on document writes
  const idsOf = raw => (raw === undefined ? [] : String(raw).split(",").map(s => s.trim()).filter(Boolean));

  // The pre- and post-triggers a document write asks for, checked as the service checks them (they exist, are of
  // that type and fire on that operation); an error is a ScriptError.
  function triggersFor(coll, req, operation) {
    const scripts = scriptsOf(coll, "triggers");
    const pick = (header, type) => idsOf(req.headers[header]).map(id => {
      const trigger = scripts.find(id);
      if (!trigger) fail(400, "BadRequest", `Trigger '${id}' does not exist.`);
      if (String(trigger.triggerType).toLowerCase() !== type) {
        fail(400, "BadRequest", `Trigger '${id}' is not a ${type}-trigger.`);
      }
      const on = String(trigger.triggerOperation).toLowerCase();
      const fires = { Create: ["create"], Replace: ["replace", "update"], Delete: ["delete"],
        Upsert: ["upsert", "create", "replace", "update"] }[operation];
      if (on !== "all" && !fires.includes(on)) {
        fail(400, "BadRequest", `Trigger '${id}' does not fire on ${operation} operations.`);
      }
      return trigger;
    });
    return { pre: pick("x-ms-documentdb-pre-trigger-include", "pre"),
      post: pick("x-ms-documentdb-post-trigger-include", "post") };
  }

  // Runs a document write (`write()` returns [status, body]) between its triggers, as one transaction.
  async function withTriggers(account, req, params, operation, write) {
    const db = account.database(params.dbId);
    const coll = db.read() && db.collection(params.collId);
    if (!coll || !coll.read() || (req.headers["x-ms-documentdb-pre-trigger-include"] === undefined &&
        req.headers["x-ms-documentdb-post-trigger-include"] === undefined)) {
      return write();
    }
    const saved = snapshot(coll);
    try {
      const { pre, post } = triggersFor(coll, req, operation);
      const { paths, pk } = partitionOf(coll, req);
      const api = () => collectionApi(coll, params.dbId, params.collId, paths, pk);
      for (const trigger of pre) {
        let requestBody = req.cosmosBody;
        const context = { getCollection: api, getResponse: () => responseOf(undefined),
          getRequest: () => ({ getBody: () => requestBody, setBody: v => { requestBody = v; },
            getOperationType: () => operation }) };
        runScript(trigger.body, [], context);
        req.cosmosBody = requestBody;
      }
      const [status, body] = await write();
      if (status >= 300) { restore(coll, saved); return [status, body]; }
      for (const trigger of post) {
        const response = responseOf(body);
        runScript(trigger.body, [], { getCollection: api, getResponse: () => response,
          getRequest: () => ({ getBody: () => req.cosmosBody, getOperationType: () => operation }) });
      }
      return [status, body];
    } catch (err) {
      restore(coll, saved);
      if (err instanceof ScriptError) return [err.status, errorBody(err.code, err.message)];
      throw err;
    }
  }

  const isScriptPath = pathname => SCRIPT_PATH.test(pathname);
  return { handleScripts, isScriptPath, withTriggers };
};
