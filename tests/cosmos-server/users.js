// Users, permissions and resource tokens, which @vercel/cosmosdb-server 1.0.1 lacks, as the service keeps them:
// dbs/{db}/users[/{user}] and .../users/{user}/permissions[/{permission}] (create, upsert, read, replace, delete,
// list, query). Every answer that carries a permission carries a new resource token (`_token`), valid for
// x-ms-documentdb-expiry-seconds (1..18000, default 3600). A request signed with one (`type=resource`) may reach
// the permission's resource and what is under it (and read the account); a "Read" permission allows reads and
// queries only (403 otherwise), a permission with resourcePartitionKey that partition only. A token carries the grant
// it was issued for: replacing or deleting the permission does not revoke it (as the service documents); an unknown
// or expired token gets 401.
"use strict";
const crypto = require("crypto");

const DEFAULT_EXPIRY_S = 3600;
const MAX_EXPIRY_S = 18000;

module.exports = function usersFor(LIB, { errorBody, toNames }) {
  const query = require(require.resolve("@zeit/cosmosdb-query", { paths: [LIB] })).default;
  const users = new Map(); // `${db}/${user}` -> user
  const permissions = new Map(); // `${db}/${user}/${permission}` -> permission (without _token)
  const tokens = new Map(); // token -> { grant: the permission as issued, expires (ms) }
  let next = 0;

  const ts = () => Math.floor(Date.now() / 1000);
  // As the service nests rids: a user's is its database's 4 bytes and 4 of its own; a permission's, its user's
  // 8 bytes and 8 of its own ("/" written "-", as in every rid here).
  const ridUnder = (parentRid, size) => {
    next += 1;
    const own = Buffer.alloc(size);
    own.writeUInt32LE(next, 0);
    const parent = Buffer.from(parentRid.replace(/-/g, "/"), "base64");
    return Buffer.concat([parent, own]).toString("base64").replace(/\//g, "-");
  };
  const selfUnder = (parentSelf, segment, r) => `${parentSelf.replace(/^\/+|\/+$/g, "")}/${segment}/${r}/`;
  class Refusal extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }
  const fail = (status, code, message) => { throw new Refusal(status, code, message); };

  function issue(req, permission) {
    const raw = req.headers["x-ms-documentdb-expiry-seconds"];
    const seconds = raw === undefined ? DEFAULT_EXPIRY_S : Number(raw);
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_EXPIRY_S) {
      fail(400, "BadRequest", `The resource token expiry must be between 1 and ${MAX_EXPIRY_S} seconds, got ${raw}.`);
    }
    const token = `type=resource&ver=1.0&sig=${crypto.randomBytes(24).toString("base64")}`;
    tokens.set(token, { grant: permission, expires: Date.now() + seconds * 1000 });
    return { ...permission, _token: token };
  }

  const USER_PATH = /^\/dbs\/([^/]+)\/users(?:\/([^/]+)(?:\/permissions(?:\/([^/]+))?)?)?\/?$/;
  const isUserPath = pathname => USER_PATH.test(pathname);
  const isQuery = req => String(req.headers["x-ms-documentdb-isquery"]).toLowerCase() === "true" ||
    req.headers["content-type"] === "application/query+json";
  const upserting = req => String(req.headers["x-ms-documentdb-is-upsert"]).toLowerCase() === "true";
  const idOf = body => {
    if (!body || typeof body !== "object" || typeof body.id !== "string" || !body.id) {
      fail(400, "BadRequest", "The input content is invalid because the required properties - 'id; ' - are missing");
    }
    return body.id;
  };

  function checkPermission(body, database, userKey, replacing) {
    const mode = body.permissionMode;
    if (mode !== "Read" && mode !== "All") fail(400, "BadRequest", "permissionMode must be Read or All.");
    if (typeof body.resource !== "string" || !body.resource) fail(400, "BadRequest", "The permission has no resource.");
    const names = toNames(body.resource.replace(/^\/+|\/+$/g, ""));
    if (!names.startsWith(`dbs/${database}/colls/`)) {
      fail(400, "BadRequest", `The resource ${body.resource} is not a container of database ${database} or inside one.`);
    }
    for (const [key, other] of permissions) {
      if (key.startsWith(`${userKey}/`) && other.id !== replacing && other.resourceNames === names) {
        fail(409, "Conflict", "The user already has a permission for this resource.");
      }
    }
    return names;
  }

  function handleUsers(account, req, pathname) {
    try {
      const [, rawDb, rawUser, rawPermission] = USER_PATH.exec(pathname);
      const [database, userId, permissionId] = [rawDb, rawUser, rawPermission].map(
        s => (s === undefined ? s : decodeURIComponent(s)));
      const db = account.database(database).read();
      if (!db) fail(404, "NotFound", "Resource Not Found");
      const body = req.cosmosBody;
      const list = (prefix, feedKey, parentRid, finish) => {
        const items = [...(feedKey === "Users" ? users : permissions)].filter(([k]) => k.startsWith(prefix) &&
          !k.slice(prefix.length).includes("/")).map(([k, v]) => finish(k, v));
        const result = req.method === "POST" ? query(body.query).exec(items, { parameters: body.parameters }).result
          : items;
        return [200, { _rid: parentRid, [feedKey]: result, _count: result.length }];
      };
      const isList = req.method === "GET" || (req.method === "POST" && isQuery(req));
      if (userId === undefined) { // the users feed
        if (isList) return list(`${database}/`, "Users", db._rid, (k, v) => v);
        if (req.method !== "POST") fail(405, "MethodNotAllowed", `${req.method} is not allowed here`);
        const id = idOf(body);
        const key = `${database}/${id}`;
        const old = users.get(key);
        if (old && !upserting(req)) fail(409, "Conflict", "Resource with specified id or name already exists.");
        const r = old ? old._rid : ridUnder(db._rid, 4);
        const user = { id, _rid: r, _self: selfUnder(db._self, "users", r), _etag: `"${crypto.randomUUID()}"`, _ts: ts(),
          _permissions: "permissions/" };
        users.set(key, user);
        return [old ? 200 : 201, user];
      }
      const userKey = `${database}/${userId}`;
      const user = users.get(userKey);
      if (!user) fail(404, "NotFound", "Entity with the specified id does not exist in the system.");
      if (permissionId === undefined && !pathname.replace(/\/+$/, "").endsWith("/permissions")) { // one user
        if (req.method === "GET") return [200, user];
        if (req.method === "DELETE") {
          users.delete(userKey);
          for (const key of [...permissions.keys()]) if (key.startsWith(`${userKey}/`)) permissions.delete(key);
          return [204, undefined];
        }
        if (req.method === "PUT") {
          if (idOf(body) !== userId) fail(400, "BadRequest", "Renaming a user is not supported here.");
          const replaced = { ...user, _etag: `"${crypto.randomUUID()}"`, _ts: ts() };
          users.set(userKey, replaced);
          return [200, replaced];
        }
        fail(405, "MethodNotAllowed", `${req.method} is not allowed here`);
      }
      const present = (key, p) => { const shown = issue(req, p); delete shown.resourceNames; return shown; };
      if (permissionId === undefined) { // the permissions feed
        if (isList) return list(`${userKey}/`, "Permissions", user._rid, present);
        if (req.method !== "POST") fail(405, "MethodNotAllowed", `${req.method} is not allowed here`);
        const id = idOf(body);
        const key = `${userKey}/${id}`;
        const old = permissions.get(key);
        if (old && !upserting(req)) fail(409, "Conflict", "Resource with specified id or name already exists.");
        const names = checkPermission(body, database, userKey, old && old.id);
        const r = old ? old._rid : ridUnder(user._rid, 8);
        const permission = { id, permissionMode: body.permissionMode, resource: body.resource,
          ...(body.resourcePartitionKey !== undefined ? { resourcePartitionKey: body.resourcePartitionKey } : {}),
          _rid: r, _self: selfUnder(user._self, "permissions", r), _etag: `"${crypto.randomUUID()}"`, _ts: ts(),
          resourceNames: names };
        permissions.set(key, permission);
        return [old ? 200 : 201, present(key, permission)];
      }
      const key = `${userKey}/${permissionId}`;
      const permission = permissions.get(key);
      if (!permission) fail(404, "NotFound", "Entity with the specified id does not exist in the system.");
      if (req.method === "GET") return [200, present(key, permission)];
      if (req.method === "DELETE") {
        permissions.delete(key); // its tokens stay valid until they expire
        return [204, undefined];
      }
      if (req.method === "PUT") {
        if (idOf(body) !== permissionId) fail(400, "BadRequest", "The id in the body does not match the URL.");
        const names = checkPermission(body, database, userKey, permissionId);
        const replaced = { ...permission, permissionMode: body.permissionMode, resource: body.resource,
          resourcePartitionKey: body.resourcePartitionKey, resourceNames: names, _etag: `"${crypto.randomUUID()}"`,
          _ts: ts() };
        if (replaced.resourcePartitionKey === undefined) delete replaced.resourcePartitionKey;
        permissions.set(key, replaced);
        return [200, present(key, replaced)];
      }
      fail(405, "MethodNotAllowed", `${req.method} is not allowed here`);
    } catch (err) {
      if (err instanceof Refusal) return [err.status, errorBody(err.code, err.message)];
      throw err;
    }
    return undefined;
  }

  // Whether a request (its resource `type` and `link`, as signed) signed with resource token `token` may pass:
  // undefined, or { status, code, message }.
  function resourceTokenError(token, req, type, link) {
    const issued = tokens.get(token);
    if (!issued) return { status: 401, code: "Unauthorized", message: "The resource token is not valid." };
    const permission = issued.grant;
    if (issued.expires < Date.now()) {
      return { status: 401, code: "Unauthorized", message: "The resource token has expired." };
    }
    if (link === "") return req.method === "GET" ? undefined : forbidden();
    const names = toNames(link);
    if (names !== permission.resourceNames && !names.startsWith(`${permission.resourceNames}/`)) return forbidden();
    const reading = req.method === "GET" || req.method === "HEAD" || (req.method === "POST" && isQuery(req));
    if (permission.permissionMode === "Read" && !reading) return forbidden();
    if (permission.resourcePartitionKey !== undefined && type === "docs") {
      const sent = req.headers["x-ms-documentdb-partitionkey"];
      let parsed;
      try { parsed = sent === undefined ? undefined : JSON.parse(sent); } catch (e) { parsed = undefined; }
      if (JSON.stringify(parsed) !== JSON.stringify(permission.resourcePartitionKey)) return forbidden();
    }
    return undefined;
  }
  const forbidden = () => ({ status: 403, code: "Forbidden",
    message: "Insufficient permissions provided in the authorization header for the corresponding request." });

  function databaseDeleted(database) {
    for (const key of [...users.keys()]) if (key.startsWith(`${database}/`)) users.delete(key);
    for (const key of [...permissions.keys()]) if (key.startsWith(`${database}/`)) permissions.delete(key);
  }

  return { handleUsers, isUserPath, resourceTokenError, databaseDeleted };
};
