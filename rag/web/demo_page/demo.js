// The workshop demo page: one prompt to the SLM and the LLM tiers, streamed side by side, timed and charted.
// It talks only to this app (POST /demo/api/run answers with server-sent events, see rag/web/demo.py);
// model servers and API keys never reach the browser. Model and document text is shown as text, never as HTML.
"use strict";

const STRINGS = {
  en: {
    title: "Workshop demo: SLM vs LLM", back: "← Chat", prompt: "Prompt",
    context: "Reference text (RAG context)", contextPlaceholder: "Paste text the models should answer from (optional)",
    useIndex: "Use the docs index instead", indexInfo: "{passages} passages from {documents} documents; the top {k} are used",
    tiers: "Tiers", temperature: "Temperature", maxTokens: "Max tokens", perTier: "Empty: each tier's own setting ({v})",
    sequential: "One tier after the other (fairer timings when both run on this machine)",
    run: "Run", run5: "Run ×5", stop: "Stop", passOf: "Pass {n} of {total}…", finished: "Finished {n} pass(es).",
    stoppedStatus: "Stopped.", starting: "Starting the models…", requestFailed: "The request failed: {msg}",
    noTier: "Choose at least one tier.", couldNotStart: "The page could not load the app's settings: {msg}",
    signIn: "Sign in to the chat first (the app asks for a login), then reload this page.",
    passagesUsed: "Passages used", retrieval: "Retrieved in {ms} ms.", notCovered: "The documents may not cover this prompt.",
    thinking: "Thinking…", thought: "Thought for {s} s",
    waiting: "waiting for the first token…", streaming: "streaming…", done: "done", failed: "failed", failedAfter: "failed after {total}",
    stopped: "stopped: the partial text is kept", unavailable: "unavailable", notSelected: "not selected",
    queued: "waiting for the model, {n} ahead…", truncated: "cut off: the stream ended before the model finished", queueMs: "Queue wait",
    fixSlm: "Set RAG_SLM_BASE_URL (or FOUNDRY_LOCAL_ENDPOINT) to an OpenAI-compatible server, or unset both to use the embedded model; then restart the app.",
    fixLlm: "Set RAG_LLM_BASE_URL (and RAG_LLM_MODEL) to an OpenAI-compatible server such as Foundry Local, Ollama or llama.cpp; then restart the app.",
    prep: "Prep", ttft: "TTFT (first token)", ttfa: "First answer token", thinkingMs: "Thinking", generation: "Generation",
    total: "Total", tokens: "Tokens in / out", tps: "Answer tok/s",
    estimated: "≈ estimated with tiktoken: the server sent no token usage.",
    reasoningEstimated: "≈ thinking tokens split off with tiktoken: the server did not count them.",
    chartTitle: "Latency per pass (ms)", xPass: "pass", traceTtft: "{tier} TTFT", traceTotal: "{tier} total",
    stats: "Percentiles", statsHint: "p50/p95 appear after 3 passes of a tier (try Run ×5).",
    tier: "Tier", passes: "Passes", answerTps: "Answer tok/s (median)",
    copy: "Copy results as Markdown", copied: "Copied to the clipboard.", copyManual: "Select the text below and copy it.",
    noResults: "No passes yet.", mdPass: "Pass", mdModel: "Model", mdPrompt: "Prompt", mdContext: "Context",
    contextNone: "none", contextPasted: "pasted reference text", contextIndex: "the docs index",
  },
  tr: {
    title: "Atölye demosu: SLM ve LLM", back: "← Sohbet", prompt: "İstem",
    context: "Başvuru metni (RAG bağlamı)", contextPlaceholder: "Modellerin yanıtlarken kullanacağı metni yapıştırın (isteğe bağlı)",
    useIndex: "Bunun yerine belge dizinini kullan", indexInfo: "{documents} belgeden {passages} bölüm; en iyi {k} bölüm kullanılır",
    tiers: "Katmanlar", temperature: "Sıcaklık", maxTokens: "En fazla token", perTier: "Boş: her katmanın kendi ayarı ({v})",
    sequential: "Katmanları sırayla çalıştır (ikisi de bu makinedeyse daha adil ölçüm)",
    run: "Çalıştır", run5: "5× Çalıştır", stop: "Durdur", passOf: "Geçiş {n} / {total}…", finished: "{n} geçiş tamamlandı.",
    stoppedStatus: "Durduruldu.", starting: "Modeller başlatılıyor…", requestFailed: "İstek başarısız: {msg}",
    noTier: "En az bir katman seçin.", couldNotStart: "Sayfa uygulamanın ayarlarını yükleyemedi: {msg}",
    signIn: "Önce sohbette oturum açın (uygulama giriş istiyor), sonra bu sayfayı yenileyin.",
    passagesUsed: "Kullanılan bölümler", retrieval: "{ms} ms'de bulundu.", notCovered: "Belgeler bu istemi kapsamıyor olabilir.",
    thinking: "Düşünüyor…", thought: "{s} sn düşündü",
    waiting: "ilk token bekleniyor…", streaming: "akıyor…", done: "bitti", failed: "başarısız", failedAfter: "{total} sonra başarısız oldu",
    stopped: "durduruldu: yarım kalan metin korundu", unavailable: "kullanılamıyor", notSelected: "seçilmedi",
    queued: "model bekleniyor, önünde {n} kişi var…", truncated: "yarıda kesildi: akış model bitirmeden sona erdi", queueMs: "Sıra bekleme",
    fixSlm: "RAG_SLM_BASE_URL'yi (ya da FOUNDRY_LOCAL_ENDPOINT'i) OpenAI uyumlu bir sunucuya ayarlayın ya da gömülü model için ikisini de boş bırakın; sonra uygulamayı yeniden başlatın.",
    fixLlm: "RAG_LLM_BASE_URL'yi (ve RAG_LLM_MODEL'i) Foundry Local, Ollama ya da llama.cpp gibi OpenAI uyumlu bir sunucuya ayarlayın; sonra uygulamayı yeniden başlatın.",
    prep: "Hazırlık", ttft: "TTFT (ilk token)", ttfa: "İlk yanıt token'ı", thinkingMs: "Düşünme", generation: "Üretim",
    total: "Toplam", tokens: "Token giriş / çıkış", tps: "Yanıt token/sn",
    estimated: "≈ tiktoken ile tahmin: sunucu token kullanımını göndermedi.",
    reasoningEstimated: "≈ düşünme token'ları tiktoken ile ayrıldı: sunucu bunları saymadı.",
    chartTitle: "Geçiş başına gecikme (ms)", xPass: "geçiş", traceTtft: "{tier} TTFT", traceTotal: "{tier} toplam",
    stats: "Yüzdelikler", statsHint: "p50/p95, bir katmanın 3 geçişinden sonra görünür (5× Çalıştır'ı deneyin).",
    tier: "Katman", passes: "Geçiş", answerTps: "Yanıt token/sn (medyan)",
    copy: "Sonuçları Markdown olarak kopyala", copied: "Panoya kopyalandı.", copyManual: "Aşağıdaki metni seçip kopyalayın.",
    noResults: "Henüz geçiş yok.", mdPass: "Geçiş", mdModel: "Model", mdPrompt: "İstem", mdContext: "Bağlam",
    contextNone: "yok", contextPasted: "yapıştırılan başvuru metni", contextIndex: "belge dizini",
  },
};
const TIERS = ["slm", "llm"];
const LABEL = { slm: "SLM", llm: "LLM" };
const COLOR = { slm: "#1a9850", llm: "#2166ac" };
const MIN_FOR_STATS = 3;

function pickLang() {
  const asked = new URLSearchParams(location.search).get("lang");
  const wanted = asked ? [asked] : (navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || "en"]);
  return String(wanted[0] || "en").toLowerCase().startsWith("tr") ? "tr" : "en";
}
const LANG = pickLang();
function t(key, vars) {
  let text = (STRINGS[LANG] && STRINGS[LANG][key]) || STRINGS.en[key] || key;
  for (const [k, v] of Object.entries(vars || {})) text = text.split("{" + k + "}").join(String(v));
  return text;
}
const $ = (sel, root) => (root || document).querySelector(sel);

const state = { config: null, results: [], passNo: 0, controller: null, running: false, stopAsked: false, lastRequest: null, lastContext: "none" };

// ------------------------------------------------------------------ page set-up

function translatePage() {
  document.documentElement.lang = LANG;
  document.title = t("title");
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
}

function column(tier) { return $("#col-" + tier); }

function setState(tier, text, bad) {
  const el = $(".state", column(tier));
  el.textContent = text;
  el.classList.toggle("bad", !!bad);
}

function showDown(tier, reason) {
  const col = column(tier);
  const box = $(".down", col);
  $(".reason", box).textContent = reason;
  $(".fix", box).textContent = t(tier === "slm" ? "fixSlm" : "fixLlm");
  box.hidden = false;
  setState(tier, t("unavailable"), true);
}

async function loadConfig() {
  setStatus(t("starting"));
  let response;
  try {
    response = await fetch("/demo/api/config");
  } catch (err) {
    setStatus(t("couldNotStart", { msg: err.message }), true);
    return;
  }
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) {
    setStatus(t("signIn"), true);
    return;
  }
  if (!response.ok) {
    setStatus(t("couldNotStart", { msg: body.detail || response.status }), true);
    return;
  }
  state.config = body;
  if (!$("#prompt").value) $("#prompt").value = body.default_prompt;
  $("#index-info").textContent = t("indexInfo", { passages: body.passages, documents: body.documents, k: body.top_k });
  const limits = [];
  for (const info of body.tiers) {
    const col = column(info.tier);
    $(".model", col).textContent = info.model ? "· " + info.model : "";
    if (!info.ok) showDown(info.tier, info.note);
    if (info.max_tokens) limits.push(LABEL[info.tier] + " " + info.max_tokens);
    if (info.tier === "slm" && typeof info.temperature === "number") $("#temperature").value = info.temperature;
  }
  $("#max-tokens").placeholder = limits.join(" · ");
  $("#max-tokens").title = limits.length ? t("perTier", { v: limits.join(" · ") }) : "";
  setStatus("");
}

function setStatus(text, bad) {
  const el = $("#status");
  el.textContent = text;
  el.classList.toggle("bad", !!bad);
}

// ------------------------------------------------------------------ one pass

async function* serverEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      let data = "";
      for (const line of frame.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5);
      }
      if (data) yield { name, data: JSON.parse(data) };  // ": keepalive" comments carry no data
    }
  }
}

function resetColumns(selected) {
  for (const tier of TIERS) {
    const col = column(tier);
    const on = selected.includes(tier);
    col.classList.toggle("off", !on);
    $(".answer", col).textContent = "";
    $(".thinking-text", col).textContent = "";
    const details = $(".thinking", col);
    details.hidden = true;
    details.open = false;
    $(".error", col).hidden = true;
    $(".note", col).hidden = true;
    $(".metrics", col).hidden = true;
    $(".estimated", col).hidden = true;
    $(".down", col).hidden = true;
    col.dataset.phase = on ? "waiting" : "off";
    setState(tier, on ? t("waiting") : t("notSelected"));
  }
}

function formRequest() {
  const tiers = TIERS.filter((tier) => $("#tier-" + tier).checked);
  const request = {
    prompt: $("#prompt").value,
    context: $("#use-index").checked ? "" : $("#context").value,
    use_index: $("#use-index").checked,
    tiers,
    sequential: $("#sequential").checked,
  };
  const temperature = $("#temperature").value;
  if (temperature !== "") request.temperature = Number(temperature);
  const maxTokens = $("#max-tokens").value;
  if (maxTokens !== "") request.max_tokens = Number(maxTokens);
  return request;
}

function errorText(body, status) {
  if (body && Array.isArray(body.detail)) return body.detail.map((d) => (d.loc || []).slice(1).join(".") + ": " + d.msg).join("; ");
  if (body && body.detail) return String(body.detail);
  return "HTTP " + status;
}

async function runPass(request, n, total) {
  state.passNo += 1;
  const passNo = state.passNo;
  setStatus(t("passOf", { n, total }));
  resetColumns(request.tiers);
  state.controller = new AbortController();
  const response = await fetch("/demo/api/run", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(request), signal: state.controller.signal,
  });
  if (!response.ok) {
    const body = await response.json().catch(() => null);
    throw new Error(response.status === 401 ? t("signIn") : errorText(body, response.status));
  }
  for await (const event of serverEvents(response)) {
    const data = event.data;
    const col = data.tier ? column(data.tier) : null;
    if (event.name === "pass") {
      state.lastContext = data.context;
    } else if (event.name === "passages") {
      showPassages(data);
    } else if (event.name === "tier_down") {
      col.dataset.phase = "down";
      showDown(data.tier, data.reason);
    } else if (event.name === "tier_start") {
      $(".model", col).textContent = "· " + data.model;
    } else if (event.name === "queued") {
      setState(data.tier, t("queued", { n: data.ahead }));
    } else if (event.name === "delta") {
      if (data.kind === "reasoning") {
        const details = $(".thinking", col);
        if (details.hidden) {
          details.hidden = false;
          details.open = true;
          $("summary", details).textContent = t("thinking");
        }
        $(".thinking-text", col).append(data.text);
        setState(data.tier, t("thinking"));
      } else {
        if (col.dataset.phase !== "answer") {
          col.dataset.phase = "answer";
          const details = $(".thinking", col);
          if (!details.hidden) details.open = false;  // the answer starts: fold the thinking away
          setState(data.tier, t("streaming"));
        }
        $(".answer", col).append(data.text);
      }
    } else if (event.name === "tier_end") {
      endTier(data, passNo);
    }
  }
  state.controller = null;
}

function endTier(data, passNo) {
  const col = column(data.tier);
  col.dataset.phase = data.truncated ? "truncated" : data.error ? "failed" : "done";
  $(".answer", col).textContent = data.answer;  // the clean answer (a late </think> can reclassify streamed text)
  const details = $(".thinking", col);
  if (data.reasoning) {
    details.hidden = false;
    $(".thinking-text", col).textContent = data.reasoning;
    $("summary", details).textContent = t("thought", { s: ((data.metrics.thinking_ms || 0) / 1000).toFixed(1) });
    details.open = false;
  } else {
    details.hidden = true;
  }
  if (data.error) {
    const box = $(".error", col);
    box.textContent = data.error;
    box.hidden = false;
  }
  if (data.note) {
    const note = $(".note", col);
    note.textContent = data.note;
    note.hidden = false;
  }
  if (data.error && data.metrics.ttft_ms === null) {
    $(".metrics", col).hidden = true;  // nothing arrived: no timings worth a table
    setState(data.tier, t("failedAfter", { total: fmt(data.metrics.total_ms) }), true);
  } else {
    showMetrics(col, data.metrics);
    setState(data.tier, data.truncated ? t("truncated") : data.error ? t("failed") : t("done"), !!data.error);
  }
  state.results.push({ pass: passNo, tier: data.tier, model: data.model, metrics: data.metrics, error: data.error, context: state.lastContext });
  updateResults();
}

function fmt(ms) {
  if (ms === null || ms === undefined) return "–";
  if (ms >= 1000) return (ms / 1000).toFixed(2) + " s";
  return ms < 0.1 ? "<0.1 ms" : ms.toFixed(1) + " ms";  // the server rounds to 0.1 ms
}

function metricRows(m) {
  const approx = m.estimated ? "≈" : "";
  const rows = [
    [t("prep"), fmt(m.prep_ms)],
    ...(m.queue_ms > 0 ? [[t("queueMs"), fmt(m.queue_ms)]] : []),
    [t("ttft"), fmt(m.ttft_ms)],
    [t("ttfa"), fmt(m.ttfa_ms)],
  ];
  if (m.thinking_ms > 0) rows.push([t("thinkingMs"), fmt(m.thinking_ms) + " · " + (m.reasoning_estimated || m.estimated ? "≈" : "") + m.reasoning_tokens + " tok"]);
  rows.push(
    [t("generation"), fmt(m.generation_ms)],
    [t("total"), fmt(m.total_ms)],
    [t("tokens"), approx + m.prompt_tokens + " / " + approx + m.completion_tokens],
    [t("tps"), m.tokens_per_s === null ? "–" : approx + m.tokens_per_s.toFixed(1)],
  );
  return rows;
}

function showMetrics(col, m) {
  const body = $(".metrics tbody", col);
  body.textContent = "";
  for (const [label, value] of metricRows(m)) {
    const tr = body.insertRow();
    tr.insertCell().textContent = label;
    const cell = tr.insertCell();
    cell.className = "num";
    cell.textContent = value;
  }
  $(".metrics", col).hidden = false;
  const note = $(".estimated", col);
  const lines = [];
  if (m.estimated) lines.push(t("estimated"));
  else if (m.reasoning_estimated) lines.push(t("reasoningEstimated"));
  note.textContent = lines.join(" ");
  note.hidden = !lines.length;
}

function showPassages(data) {
  const panel = $("#passages-panel");
  const list = $("#passages");
  list.textContent = "";
  for (const hit of data.hits) {
    const li = document.createElement("li");
    const head = document.createElement("strong");
    head.textContent = hit.source + (hit.heading ? " › " + hit.heading : "") + (hit.page ? " (p. " + hit.page + ")" : "");
    const score = document.createElement("span");
    score.className = "muted";
    score.textContent = " · score " + hit.score;
    const quote = document.createElement("blockquote");
    quote.textContent = hit.text;
    li.append(head, score, quote);
    list.append(li);
  }
  $("#passages-note").textContent = t("retrieval", { ms: data.retrieval_ms }) + (data.covered ? "" : " " + t("notCovered"));
  panel.hidden = false;
}

// ------------------------------------------------------------------ runs, stop

async function run(times) {
  if (state.running) return;
  const request = formRequest();
  if (!request.tiers.length) {
    setStatus(t("noTier"), true);
    return;
  }
  state.running = true;
  state.stopAsked = false;
  state.lastRequest = request;
  if (!request.use_index) $("#passages-panel").hidden = true;
  setButtons();
  let done = 0;
  try {
    for (let i = 1; i <= times && !state.stopAsked; i++) {
      await runPass(request, i, times);
      done = i;
    }
    setStatus(t("finished", { n: done }));
  } catch (err) {
    if (err.name === "AbortError" || state.stopAsked) {
      markStopped();
      setStatus(t("stoppedStatus"));
    } else {
      setStatus(t("requestFailed", { msg: err.message }), true);
    }
  } finally {
    state.running = false;
    state.controller = null;
    setButtons();
  }
}

function markStopped() {
  for (const tier of TIERS) {
    const col = column(tier);
    if (["waiting", "answer"].includes(col.dataset.phase)) {
      col.dataset.phase = "stopped";
      setState(tier, t("stopped"));
    }
  }
}

function stop() {
  state.stopAsked = true;
  if (state.controller) state.controller.abort();  // closes the stream; the server closes the tiers' requests
}

function setButtons() {
  $("#run").disabled = state.running;
  $("#run5").disabled = state.running;
  $("#stop").disabled = !state.running;
}

// ------------------------------------------------------------------ chart, percentiles, Markdown

function percentile(values, q) {
  // nearest rank, as `rag bench` computes it
  const sorted = values.filter((v) => v !== null && v !== undefined).sort((a, b) => a - b);
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.round((q / 100) * (sorted.length - 1)))];
}

function completed(tier) { return state.results.filter((r) => r.tier === tier && !r.error); }

function updateResults() {
  drawChart();
  drawStats();
}

function drawChart() {
  if (typeof Plotly === "undefined") return;
  const traces = [];
  for (const tier of TIERS) {
    const rows = completed(tier);
    if (!rows.length) continue;
    const x = rows.map((r) => r.pass);
    traces.push({ x, y: rows.map((r) => r.metrics.ttft_ms), name: t("traceTtft", { tier: LABEL[tier] }), mode: "lines+markers", line: { color: COLOR[tier], dash: "dot" } });
    traces.push({ x, y: rows.map((r) => r.metrics.total_ms), name: t("traceTotal", { tier: LABEL[tier] }), mode: "lines+markers", line: { color: COLOR[tier] } });
  }
  const layout = {
    title: { text: t("chartTitle"), font: { size: 14 } }, margin: { l: 56, r: 16, t: 40, b: 40 },
    xaxis: Object.assign({ title: { text: t("xPass") }, dtick: 1 }, traces.length ? { autorange: true } : { autorange: false, range: [0, 5] }),
    yaxis: { title: { text: "ms" }, rangemode: "tozero" },
    legend: { orientation: "h" }, paper_bgcolor: "#fff", plot_bgcolor: "#fff",
  };
  Plotly.react("chart", traces, layout, { displaylogo: false, responsive: true });
}

function statRows() {
  const rows = [];
  for (const tier of TIERS) {
    const done = completed(tier);
    if (done.length < MIN_FOR_STATS) continue;
    const of = (key) => done.map((r) => r.metrics[key]);
    rows.push({
      tier: LABEL[tier], passes: done.length,
      ttft50: percentile(of("ttft_ms"), 50), ttft95: percentile(of("ttft_ms"), 95),
      ttfa50: percentile(of("ttfa_ms"), 50), ttfa95: percentile(of("ttfa_ms"), 95),
      total50: percentile(of("total_ms"), 50), total95: percentile(of("total_ms"), 95),
      tps: percentile(of("tokens_per_s"), 50),
      estimated: done.some((r) => r.metrics.estimated),
    });
  }
  return rows;
}

const STAT_HEAD = () => [t("tier"), t("passes"), "TTFT p50", "TTFT p95", t("ttfa") + " p50", t("ttfa") + " p95", t("total") + " p50", t("total") + " p95", t("answerTps")];
const statCells = (r) => [r.tier, String(r.passes), fmt(r.ttft50), fmt(r.ttft95), fmt(r.ttfa50), fmt(r.ttfa95), fmt(r.total50), fmt(r.total95),
  r.tps === null ? "–" : (r.estimated ? "≈" : "") + r.tps.toFixed(1)];

function drawStats() {
  const rows = statRows();
  const table = $("#stats");
  $("#stats-hint").hidden = rows.length > 0;
  table.hidden = !rows.length;
  if (!rows.length) return;
  const head = $("thead", table);
  head.textContent = "";
  const htr = head.insertRow();
  for (const label of STAT_HEAD()) {
    const th = document.createElement("th");
    th.textContent = label;
    htr.append(th);
  }
  const body = $("tbody", table);
  body.textContent = "";
  for (const row of rows) {
    const tr = body.insertRow();
    tr.dataset.tier = row.tier;
    statCells(row).forEach((value, i) => {
      const td = tr.insertCell();
      td.textContent = value;
      if (i) td.className = "num";
    });
  }
}

function mdCell(value) { return String(value).replace(/\|/g, "\\|").replace(/\n/g, " "); }
function mdTable(head, rows, textColumns) {
  // text columns left-aligned, figures right-aligned
  return ["| " + head.map(mdCell).join(" | ") + " |", "|" + head.map((_, i) => (i >= textColumns ? " ---: " : " --- ")).join("|") + "|"]
    .concat(rows.map((r) => "| " + r.map(mdCell).join(" | ") + " |")).join("\n");
}

function markdown() {
  if (!state.results.length) return t("noResults");
  const req = state.lastRequest || formRequest();
  const contexts = { none: t("contextNone"), pasted: t("contextPasted"), index: t("contextIndex") };
  const lines = [
    "**" + t("mdPrompt") + ":** " + mdCell(req.prompt),
    "**" + t("mdContext") + ":** " + (contexts[state.lastContext] || state.lastContext), "",
  ];
  const head = [t("mdPass"), t("tier"), t("mdModel"), t("prep"), "TTFT", t("ttfa"), t("thinkingMs"), t("generation"), t("total"), t("tokens"), t("tps")];
  const rows = state.results.map((r) => {
    const m = r.metrics;
    const approx = m.estimated ? "≈" : "";
    return [r.pass, LABEL[r.tier], r.model, fmt(m.prep_ms), fmt(m.ttft_ms), fmt(m.ttfa_ms), m.thinking_ms > 0 ? fmt(m.thinking_ms) : "–",
      fmt(m.generation_ms), fmt(m.total_ms), approx + m.prompt_tokens + " / " + approx + m.completion_tokens,
      r.error ? t("failed") : m.tokens_per_s === null ? "–" : approx + m.tokens_per_s.toFixed(1)];
  });
  lines.push(mdTable(head, rows, 3));
  const stats = statRows();
  if (stats.length) lines.push("", mdTable(STAT_HEAD(), stats.map(statCells), 1));
  if (state.results.some((r) => r.metrics.estimated)) lines.push("", t("estimated"));
  return lines.join("\n");
}

async function copyMarkdown() {
  const text = markdown();
  const box = $("#markdown");
  box.value = text;
  box.hidden = false;
  try {
    await navigator.clipboard.writeText(text);  // needs a secure context: 127.0.0.1 and localhost are
    $("#copied").textContent = t("copied");
  } catch (err) {
    box.select();
    $("#copied").textContent = t("copyManual");
  }
}

// ------------------------------------------------------------------ wiring

function init() {
  translatePage();
  $("#use-index").addEventListener("change", () => { $("#context").disabled = $("#use-index").checked; });
  $("#run").addEventListener("click", () => run(1));
  $("#run5").addEventListener("click", () => run(5));
  $("#stop").addEventListener("click", stop);
  $("#copy").addEventListener("click", copyMarkdown);
  for (const tier of TIERS) setState(tier, "");
  drawChart();
  loadConfig();
}

init();
