// Pantry Registry's pages work without this script; it adds live search (debounced, keyboard
// navigable) and copy buttons. It talks only to this origin.
(function () {
  "use strict";

  function setupCopy() {
    document.querySelectorAll("button.copy[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        var source = document.getElementById(button.getAttribute("data-copy"));
        if (!source || !navigator.clipboard) { return; }
        navigator.clipboard.writeText(source.textContent).then(function () {
          var label = button.textContent;
          button.textContent = "Copied";
          button.classList.add("copied");
          setTimeout(function () { button.textContent = label; button.classList.remove("copied"); }, 1500);
        });
      });
    });
  }

  function setupSearch() {
    var input = document.getElementById("q");
    var list = document.getElementById("suggestions");
    if (!input || !list) { return; }
    var timer = null;
    var active = -1;
    var asked = 0;

    function options() { return list.querySelectorAll("li[role=option]"); }

    function hide() {
      list.hidden = true;
      active = -1;
      input.removeAttribute("aria-activedescendant");
      input.setAttribute("aria-expanded", "false");
    }

    function mark(index) {
      var all = options();
      if (all.length === 0) { return; }
      active = (index + all.length) % all.length;
      all.forEach(function (li, i) { li.setAttribute("aria-selected", i === active ? "true" : "false"); });
      input.setAttribute("aria-activedescendant", all[active].id);
    }

    function show(results) {
      list.textContent = "";
      results.forEach(function (r, i) {
        var li = document.createElement("li");
        li.setAttribute("role", "option");
        li.id = "suggestion-" + i;
        var a = document.createElement("a");
        a.href = r.url;
        a.textContent = r.name;
        var v = document.createElement("span");
        v.className = "version";
        v.textContent = " " + r.version + (r.ecosystem === "zig" ? " · Zig" : "");
        var d = document.createElement("span");
        d.className = "description";
        d.textContent = r.description || "";
        li.appendChild(a);
        li.appendChild(v);
        li.appendChild(d);
        list.appendChild(li);
      });
      list.hidden = results.length === 0;
      input.setAttribute("aria-expanded", results.length ? "true" : "false");
      active = -1;
    }

    function ask() {
      var q = input.value.trim();
      if (q === "") { hide(); return; }
      var mine = ++asked;
      fetch("/find?format=json&q=" + encodeURIComponent(q), { headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : { results: [] }; })
        .then(function (body) { if (mine === asked) { show(body.results || []); } })
        .catch(function () { if (mine === asked) { hide(); } });
    }

    input.setAttribute("aria-expanded", "false");
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(ask, 150);
    });
    input.addEventListener("keydown", function (e) {
      if (list.hidden) { return; }
      if (e.key === "ArrowDown") { e.preventDefault(); mark(active + 1); }
      else if (e.key === "ArrowUp") { e.preventDefault(); mark(active - 1); }
      else if (e.key === "Escape") { hide(); }
      else if (e.key === "Enter" && active >= 0) {
        e.preventDefault();
        window.location.href = options()[active].querySelector("a").href;
      }
    });
    document.addEventListener("click", function (e) {
      if (!list.contains(e.target) && e.target !== input) { hide(); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupCopy();
    setupSearch();
  });
})();
