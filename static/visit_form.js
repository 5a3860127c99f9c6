// Live provisional result of the visit being typed. The server computes it with the same code that saves the
// visit (in a transaction it rolls back), so what is shown here is what will be stored. Works without a mouse:
// it listens to input/change events, and the result is announced through an aria-live region.
(function () {
  const form = document.getElementById("visit-form");
  const out = document.getElementById("preview");
  if (!form || !out || !form.dataset.previewUrl) return;
  let timer = null, seq = 0;
  const warnList = document.getElementById("preview-warnings");
  function show(text, category, warnings) {
    out.querySelector(".preview-text").textContent = text;
    out.dataset.category = category || "";
    if (warnList) {
      warnList.replaceChildren();
      (warnings || []).forEach(function (w) {
        const li = document.createElement("li");
        li.className = "warning";
        li.dataset.code = w.code;
        li.textContent = "Warning: " + w.message;
        warnList.appendChild(li);
      });
    }
  }
  async function refresh() {
    const mine = ++seq;
    out.setAttribute("aria-busy", "true");
    try {
      const res = await fetch(form.dataset.previewUrl, { method: "POST", body: new FormData(form),
        headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" });
      const data = await res.json();
      if (mine !== seq) return;
      if (data.ok) {
        const sum = data.sum_mm === null ? "sum incomplete" : "sum " + data.sum_mm + " mm";
        show("Provisional: " + data.label + " (" + sum + "). " + data.reason, data.overall, data.warnings);
      } else {
        show("Provisional result not available: " + (data.message || "incomplete entries"), "");
      }
    } catch (e) {
      if (mine === seq) show("Provisional result not available (connection).", "");
    } finally {
      if (mine === seq) out.removeAttribute("aria-busy");
    }
  }
  function schedule() { clearTimeout(timer); timer = setTimeout(refresh, 350); }
  // Enter in an everyday field (lesion axes, Tg, TgAb, skin grade) moves to the next one; Enter in the last one
  // saves. Tab still reaches every field, in page order.
  const main = Array.from(form.querySelectorAll("[data-main]"));
  main.forEach(function (el, i) {
    el.addEventListener("keydown", function (ev) {
      if (ev.key !== "Enter" || ev.shiftKey || ev.ctrlKey || ev.altKey) return;
      ev.preventDefault();
      if (i + 1 < main.length) main[i + 1].focus(); else form.requestSubmit();
    });
  });
  // Start on the visit date (pre-filled with today: Enter moves on to the first measurement).
  if (main.length && !form.querySelector(".has-error")) main[0].focus();
  // TgAb: typing or picking an assay the patient was tested with before fills in that assay's cut-off.
  const assay = form.querySelector("[data-cutoffs]");
  const cutoff = document.getElementById("id_lab-tgab-tgab_cutoff_iu_ml");
  if (assay && cutoff) {
    const known = JSON.parse(assay.dataset.cutoffs);
    assay.addEventListener("input", function () {
      const key = assay.value.trim().split(/\s+/).join(" ").toLowerCase();
      if (Object.prototype.hasOwnProperty.call(known, key)) cutoff.value = known[key];
    });
  }
  // Saving: no further preview (a preview racing the save could make the database see the visit twice).
  form.addEventListener("submit", function () { clearTimeout(timer); seq++; timer = null; });
  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
})();
