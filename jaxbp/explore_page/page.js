(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("jaxbp-data").textContent);
  const q = new URLSearchParams(location.hash.slice(1));
  const delay = Number(q.get("delay") || D.delay);
  const svg = document.getElementById("graph");
  const status = document.getElementById("status");
  const info = document.getElementById("info");
  const btn = (n) => document.getElementById("btn-" + n);
  const all = (sel) => Array.from(svg.querySelectorAll(sel));
  const nForward = D.events.filter((e) => e.phase === "forward").length;
  let done = 0, timer = null, pinned = null;

  // each edge's texts and group, and each node's group, found once (a long graph has
  // thousands: looking them up per event would make playing it quadratic)
  const texts = { fwd: {}, bwd: {} }, edges = {}, nodes = {};
  for (const t of all("text.fwd, text.bwd")) {
    texts[t.classList.contains("fwd") ? "fwd" : "bwd"][t.dataset.edge] = t;
  }
  for (const g of all("g.edge")) edges[g.dataset.edge] = g;
  for (const g of all("g.node")) nodes[g.dataset.node] = g;
  let current = [];

  const text = (eid, kind) => texts[kind][eid];
  const shown = (eid, kind) => {
    const t = text(eid, kind);
    return !!t && t.classList.contains("shown");
  };
  const value = (eid, kind) => (shown(eid, kind) ? text(eid, kind).dataset[kind] : "…");

  function reveal(ev) {
    const kind = ev.phase === "forward" ? "fwd" : "bwd";
    current.forEach((el) => el.classList.remove("current"));
    current = [];
    for (const eid of ev.edges) {
      const t = text(eid, kind);
      t.textContent = t.dataset[kind];
      t.classList.add("shown");
      edges[eid].classList.add(kind + "-shown", "current");
      current.push(edges[eid]);
    }
    const node = nodes[ev.node];
    node.classList.add("current", kind + "-done");
    current.push(node);
    status.textContent = `${done + 1}/${D.events.length}  ${ev.text}`;
  }
  function update() {
    btn("forward").disabled = done >= nForward;
    btn("backward").disabled = done >= D.events.length;
    btn("step").disabled = done >= D.events.length;
    document.body.dataset.step = String(done);
    if (pinned) showInfo(pinned);
  }
  function stepOnce() {
    if (done < D.events.length) { reveal(D.events[done]); done += 1; update(); }
  }
  function stop() { clearTimeout(timer); timer = null; }
  function play(upto) {
    stop();
    const tick = () => {
      if (done < upto) { stepOnce(); timer = setTimeout(tick, delay); } else { timer = null; }
    };
    tick();
  }
  function reset() {
    stop();
    done = 0;
    current = [];
    all("text.fwd, text.bwd").forEach((t) => { t.textContent = ""; t.classList.remove("shown"); });
    for (const c of ["current", "fwd-shown", "bwd-shown", "fwd-done", "bwd-done"]) {
      all("." + c).forEach((el) => el.classList.remove(c));
    }
    status.textContent = D.hint;
    update();
  }
  function row(table, head, ...cells) {
    const tr = table.insertRow();
    const th = document.createElement("th");
    th.textContent = head;
    tr.appendChild(th);
    for (const c of cells) tr.insertCell().textContent = c;
  }
  function showInfo(nid) {
    const n = D.info[nid];
    info.dataset.node = nid;
    info.textContent = "";
    const h = document.createElement("h3");
    h.textContent = n.name + (n.prim ? ` (${n.prim})` : "") + (n.section ? `  §${n.section}` : "");
    const table = document.createElement("table");
    info.append(h, table);
    for (const r of n.ins) row(table, "input", r.src, value(r.edge, "fwd"));
    if (n.outs.length) row(table, "output", value(n.outs[0], "fwd"));
    const up = n.outs.length && n.outs.every((e) => shown(e, "bwd"));
    if (n.dout !== null) row(table, "dout", up ? n.dout : "…");
    for (const r of n.ins) {
      if (!r.rule) continue;
      const passed = shown(r.edge, "bwd");
      const how = r.worked || `${r.rule} = ${value(r.edge, "bwd")}`;
      row(table, "passes", "to " + r.src, passed ? how : r.rule);
    }
  }
  btn("forward").addEventListener("click", () => play(nForward));
  btn("backward").addEventListener("click", () => play(D.events.length));
  btn("step").addEventListener("click", () => { stop(); stepOnce(); });
  btn("reset").addEventListener("click", reset);
  for (const g of all("g.node")) {
    g.addEventListener("mouseenter", () => showInfo(g.dataset.node));
    g.addEventListener("mouseleave", () => { if (pinned) showInfo(pinned); });
    g.addEventListener("click", () => { pinned = g.dataset.node; showInfo(pinned); });
  }
  reset();
  const clicks = (q.get("click") || "").split(",").filter(Boolean);
  function next() {
    if (timer !== null) { setTimeout(next, 20); return; }
    const c = clicks.shift();
    if (c === undefined) { document.body.dataset.played = "1"; return; }
    if (c.startsWith("node:")) {
      const g = nodes[c.slice(5)];
      if (!g) { document.body.dataset.error = "no node " + c.slice(5); return; }
      g.dispatchEvent(new MouseEvent("click", { bubbles: true }));
    } else if (btn(c)) {
      btn(c).click();
    } else {
      document.body.dataset.error = "no button " + c;
      return;
    }
    setTimeout(next, 0);
  }
  if (clicks.length) next();
})();
