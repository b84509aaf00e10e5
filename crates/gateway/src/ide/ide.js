// The syncchain GraphQL IDE: no framework and nothing fetched from elsewhere.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const store = window.localStorage;
  const defaults = {
    query: "# Sign in, paste the token above as `Bearer <token>`, then ask for `me`.\n" +
      "mutation SignIn($input: SigninInput!) {\n  signIn(input: $input) { token expiresAt user { id email role } }\n}\n",
    variables: '{ "input": { "email": "ada@example.com", "password": "correct horse battery" } }',
  };
  for (const id of ["query", "variables", "auth"]) {
    $(id).value = store.getItem("syncchain.ide." + id) ?? defaults[id] ?? "";
    $(id).addEventListener("input", () => store.setItem("syncchain.ide." + id, $(id).value));
  }

  async function post(body) {
    const headers = { "content-type": "application/json" };
    const auth = $("auth").value.trim();
    if (auth) headers.authorization = auth;
    const response = await fetch("/graphql", { method: "POST", headers, body: JSON.stringify(body) });
    return response.json();
  }

  async function run() {
    let variables = {};
    const text = $("variables").value.trim();
    if (text) {
      try { variables = JSON.parse(text); } catch (e) { $("result").textContent = "Variables are not valid JSON: " + e.message; return; }
    }
    $("result").textContent = "…";
    try {
      const result = await post({ query: $("query").value, variables });
      $("result").textContent = JSON.stringify(result, null, 2);
    } catch (e) {
      $("result").textContent = "Request failed: " + e.message;
    }
  }

  const typeName = (t) => t.kind === "NON_NULL" ? typeName(t.ofType) + "!" : t.kind === "LIST" ? "[" + typeName(t.ofType) + "]" : t.name;
  const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text) e.textContent = text; return e; };

  async function loadDocs() {
    const docs = $("docs");
    docs.textContent = "Loading…";
    const result = await post({ query: "{ __schema { queryType { name } mutationType { name } types { name kind description fields { name description args { name type { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } type { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } inputFields { name type { kind name ofType { kind name ofType { kind name } } } } } } }" });
    docs.textContent = "";
    if (!result.data) { docs.textContent = "The schema is not available here (introspection is off)."; return; }
    const types = result.data.__schema.types.filter((t) => !t.name.startsWith("__") && (t.fields || t.inputFields));
    for (const t of types) {
      docs.appendChild(el("h3", null, t.name));
      if (t.description) docs.appendChild(el("p", "desc", t.description));
      for (const f of t.fields || t.inputFields) {
        const args = f.args && f.args.length ? "(" + f.args.map((a) => a.name + ": " + typeName(a.type)).join(", ") + ")" : "";
        docs.appendChild(el("div", null)).appendChild(el("code", null, f.name + args + ": " + typeName(f.type)));
        if (f.description) docs.appendChild(el("p", "desc", f.description));
      }
    }
  }

  $("run").addEventListener("click", run);
  document.addEventListener("keydown", (e) => { if ((e.ctrlKey || e.metaKey) && e.key === "Enter") { e.preventDefault(); run(); } });
  $("docs-toggle").addEventListener("click", () => { const d = $("docs"); d.hidden = !d.hidden; if (!d.hidden) loadDocs(); });
})();
