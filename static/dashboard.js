// Load each dashboard figure as its own request and put the accessible SVG into the page (the tables appear at
// once; a figure that fails says so in words).
(function () {
  document.querySelectorAll("figure.plot[data-svg-url]").forEach(async function (fig) {
    if (fig.querySelector("svg")) return;
    const slot = fig.querySelector(".loading");
    try {
      const res = await fetch(fig.dataset.svgUrl, { credentials: "same-origin" });
      if (!res.ok) throw new Error("HTTP " + res.status);
      const text = await res.text();
      const holder = document.createElement("div");
      holder.className = "svg-holder";
      holder.innerHTML = text;
      fig.replaceChild(holder, slot);
    } catch (e) {
      if (slot) slot.textContent = "The figure could not be drawn (" + e.message + "); its data is in the CSV.";
    }
  });
})();

// The filter form cannot ask for an implant period that ends before it starts: each date bounds the other.
(function () {
  const from = document.getElementById("f-from");
  const to = document.getElementById("f-to");
  if (!from || !to) return;
  function bound() {
    to.min = from.value || "";
    from.max = to.value || "";
  }
  from.addEventListener("change", bound);
  to.addEventListener("change", bound);
  bound();
})();
