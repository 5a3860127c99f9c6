// Live provisional result of the visit being typed. The server computes it with the same code that saves the
// visit (in a transaction it rolls back), so what is shown here is what will be stored. Works without a mouse:
// it listens to input/change events, and the result is announced through an aria-live region.
(function () {
  const form = document.getElementById("visit-form");
  const out = document.getElementById("preview");
  if (!form || !out || !form.dataset.previewUrl) return;
  let timer = null, seq = 0;
  function show(text, category) {
    out.querySelector(".preview-text").textContent = text;
    out.dataset.category = category || "";
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
        show("Provisional: " + data.label + " (" + sum + "). " + data.reason, data.overall);
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
  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
})();
