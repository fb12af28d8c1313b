/**
 * The gateway's page: each task's stage, labels, student, projected and live share, dollars, audit bounds,
 * with promote and demote buttons. It reads /v1/gateway/tasks every two seconds (with the key it is given,
 * kept in the browser's session storage).
 */
export function gatewayPage(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tandem gateway</title>
<link rel="icon" href="data:,">
<style>
  body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem; color: #1b1f24; background: #fff; }
  h1 { font-size: 1.3rem; margin: 0 0 .25rem; }
  p.lead { color: #4b5563; margin: 0 0 1.5rem; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .45rem .6rem; border-bottom: 1px solid #e5e7eb; vertical-align: top; }
  th { font-weight: 600; color: #374151; background: #f9fafb; position: sticky; top: 0; }
  td.num { font-variant-numeric: tabular-nums; text-align: right; }
  .stage { display: inline-block; padding: .1rem .5rem; border-radius: 999px; font-weight: 600; font-size: .85rem; }
  .record { background: #e5e7eb; color: #1f2937; } .shadow { background: #dbeafe; color: #1e3a8a; } .serve { background: #dcfce7; color: #14532d; }
  .alarm { color: #991b1b; font-weight: 600; }
  small { color: #4b5563; }
  button { font: inherit; padding: .2rem .6rem; margin-right: .3rem; cursor: pointer; }
  #error { color: #991b1b; }
</style>
</head>
<body>
<main>
<h1>tandem gateway</h1>
<p class="lead">Each task: recorded from forwarded traffic, distilled in the background, served by its student under a certificate once promoted, and watched. <span id="error" role="alert"></span></p>
<table>
<thead><tr><th scope="col">Task</th><th scope="col">Stage</th><th scope="col">Labels</th><th scope="col">Student</th><th scope="col">Local share</th><th scope="col">Dollars</th><th scope="col">Audit</th><th scope="col">Actions</th></tr></thead>
<tbody id="tasks"><tr><td colspan="8">Loading…</td></tr></tbody>
</table>
</main>
<script>
const pct = (x) => x == null ? "–" : (100 * x).toFixed(1) + "%";
const usd = (x) => x == null ? "–" : "$" + (x >= 1 ? x.toFixed(2) : x.toFixed(4));
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
function headers() {
  const key = sessionStorage.getItem("tandem-key");
  return key ? { authorization: "Bearer " + key } : {};
}
async function call(url, init) {
  let response = await fetch(url, { ...init, headers: headers() });
  if (response.status === 401) {
    const key = prompt("Gateway key");
    if (key) { sessionStorage.setItem("tandem-key", key); response = await fetch(url, { ...init, headers: headers() }); }
  }
  return response;
}
function row(t) {
  const s = t.student;
  const student = s ? (s.certified ? "τ " + s.tau.toFixed(3) + "<br><small>" + s.labels + " labels, projected local " + pct(s.local_share) + "</small>" : "not certified<br><small>" + s.labels + " labels</small>") : "<small>none yet</small>";
  const distill = t.distill.state === "running" ? "<br><small>distilling…</small>" : t.distill.state === "failed" ? "<br><small class=alarm>distill failed: " + esc(t.distill.error || "") + "</small>" : "";
  const next = t.next_distill_at != null ? "<br><small>next distill at " + t.next_distill_at + "</small>" : "";
  const shadow = t.shadow ? "<br><small>shadow: would keep " + t.shadow.kept + " of " + t.shadow.texts + ", agreeing " + pct(t.shadow.kept_agreement) + "</small>" : "";
  const a = t.audit;
  const audit = a ? (a.alarm ? "<span class=alarm>alarm</span> " : "") + (a.observed ? pct(a.estimate) + " <small>[" + pct(a.lower_bound) + ", " + pct(a.upper_bound) + "] of " + a.observed + ", target " + pct(a.target) + "</small>" : "<small>no audited answers yet</small>") : "<small>–</small>";
  const c = t.counters;
  const saved = t.projected && t.projected.saved_per1000_usd != null ? "<br><small>projected " + usd(t.projected.saved_per1000_usd) + " saved per 1,000</small>" : "";
  const actions = (t.stage !== "serve" && s && s.certified ? "<button data-act=promote data-task='" + esc(t.name) + "'>Promote</button>" : "") + (t.stage === "serve" ? "<button data-act=demote data-task='" + esc(t.name) + "'>Demote</button>" : "");
  return "<tr><th scope=row>" + esc(t.name) + "</th><td><span class='stage " + t.stage + "'>" + t.stage + "</span><br><small>since " + esc(t.since.slice(0, 19).replace("T", " ")) + "</small></td>" +
    "<td class=num>" + t.labels + next + "</td><td>" + student + distill + "</td><td class=num>" + pct(t.local_share) + "<br><small>" + c.local + " of " + c.requests + "</small>" + shadow + "</td>" +
    "<td class=num>saved " + usd(c.saved_usd) + "<br><small>paid " + usd(c.forwarded_usd + c.audit_usd) + "</small>" + saved + "</td><td>" + audit + "</td><td>" + actions + "</td></tr>";
}
async function refresh() {
  try {
    const response = await call("/v1/gateway/tasks");
    if (!response.ok) throw new Error("HTTP " + response.status);
    const { tasks } = await response.json();
    document.getElementById("tasks").innerHTML = tasks.length ? tasks.map(row).join("") : "<tr><td colspan=8>No tasks: declare them in the gateway's config (tandem gateway tasks proposes them from recorded traffic).</td></tr>";
    document.getElementById("error").textContent = "";
  } catch (error) {
    document.getElementById("error").textContent = "Could not load the tasks (" + error.message + ").";
  }
}
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-act]");
  if (!button) return;
  const response = await call("/v1/gateway/tasks/" + encodeURIComponent(button.dataset.task) + "/" + button.dataset.act, { method: "POST" });
  if (!response.ok) alert((await response.json()).error);
  refresh();
});
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
`;
}
