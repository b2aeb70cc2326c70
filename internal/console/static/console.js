// tokenwarden console: progressive enhancement only. Every page works
// without this script; with it, times count down, the list's rows update
// live, copy buttons copy, and the connect form shows the chosen
// provider's fields.
"use strict";

(function () {
  // span mirrors the server's wording: the two largest units.
  function span(ms) {
    var units = [[86400000, "d"], [3600000, "h"], [60000, "m"], [1000, "s"]];
    for (var i = 0; i < units.length; i++) {
      if (ms < units[i][0]) continue;
      var s = Math.floor(ms / units[i][0]) + units[i][1];
      if (i + 1 < units.length) {
        var rest = Math.floor((ms % units[i][0]) / units[i + 1][0]);
        if (rest > 0) s += " " + rest + units[i + 1][1];
      }
      return s;
    }
    return "0s";
  }
  function relative(t) {
    var d = t - Date.now();
    if (Math.abs(d) < 1000) return "now";
    return d > 0 ? "in " + span(d) : span(-d) + " ago";
  }
  function tick() {
    document.querySelectorAll("time[data-countdown]").forEach(function (el) {
      var t = Date.parse(el.getAttribute("datetime"));
      if (!isNaN(t)) el.textContent = relative(t);
    });
  }

  // stream calls changed with each name the live stream at el's
  // data-live sends, and reload when the page may have missed changes:
  // names were dropped, the server's listener reconnected, or this
  // stream itself did. The body's data-live-ready says that the server
  // is listening (only then does "● live" show), data-live="off" that it
  // never will (TOKENS_POLL_ONLY).
  function stream(el, changed, reload) {
    if (!window.EventSource) return;
    var state = document.getElementById("live-state");
    var es = new EventSource(el.dataset.live);
    var dropped = false;
    function say(text) { if (state) state.textContent = text; }
    es.addEventListener("ready", function () {
      say("● live");
      document.body.dataset.liveReady = "1";
      // A new stream after a dropped one: the server's listener is
      // new too, and changes in between were never sent.
      if (dropped) reload();
      dropped = false;
    });
    es.addEventListener("changed", function (e) { changed(e.data); });
    es.addEventListener("reload", reload);
    es.addEventListener("down", function () {
      say("reconnecting…");
      delete document.body.dataset.liveReady;
    });
    es.addEventListener("off", function () {
      es.close();
      say("not live: reload to update");
      document.body.dataset.live = "off";
    });
    es.onerror = function () {
      if (es.readyState === EventSource.CLOSED) return;
      dropped = true;
      say("reconnecting…");
      delete document.body.dataset.liveReady;
    };
    window.addEventListener("pagehide", function () { es.close(); });
  }

  // Live rows: rows in view that changed are fetched again, a few at a
  // time, judged by the page's filter (its query goes along), and
  // swapped in place. A row whose connection no longer matches the
  // filter shows its new state, faded, with a note; a deleted one keeps
  // what it showed, struck out, with a note. Neither is removed: rows
  // do not shift under the pointer or the keyboard's focus, and a person
  // sees what became of a row they were looking at; a reload lists the
  // filter's rows again.
  function liveRows(table) {
    var state = document.getElementById("live-state");
    var pending = new Set();
    var timer = null;
    function rowOf(name) {
      var rows = table.tBodies[0].rows;
      for (var i = 0; i < rows.length; i++) if (rows[i].dataset.name === name) return rows[i];
      return null;
    }
    function flush() {
      timer = null;
      var names = Array.from(pending);
      pending.clear();
      var q = new URLSearchParams(location.search);
      names.forEach(function (n) { q.append("row", n); });
      fetch(table.dataset.rows + "?" + q.toString(), { credentials: "same-origin" })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.text(); })
        .then(function (html) {
          var tpl = document.createElement("template");
          tpl.innerHTML = html;
          var fresh = {};
          tpl.content.querySelectorAll("tr[data-name]").forEach(function (tr) { fresh[tr.dataset.name] = tr; });
          names.forEach(function (n) {
            var old = rowOf(n), tr = fresh[n];
            if (!old || !tr) return;
            if (tr.dataset.gone === "deleted") {
              gone(old, "deleted");
              return;
            }
            tr.classList.add("changed");
            if (tr.dataset.gone) gone(tr, "no longer matches the filter");
            old.replaceWith(tr);
          });
          tick();
        })
        .catch(function () { if (state) state.textContent = "live updates paused"; });
    }
    function want(name) {
      pending.add(name);
      if (!timer) timer = setTimeout(flush, 150);
    }
    var counts = liveCounts(document.getElementById("counts"));
    stream(table, function (name) {
      counts();
      if (rowOf(name)) want(name);
    }, function () {
      counts();
      table.querySelectorAll("tbody tr[data-name]").forEach(function (tr) { want(tr.dataset.name); });
    });
  }

  // gone marks a row that no longer belongs in the list: why, and a
  // link that reloads the list. A deleted connection's name is no longer
  // a link, as its page is gone.
  function gone(tr, why) {
    var deleted = why === "deleted";
    tr.dataset.gone = deleted ? "deleted" : "filtered";
    tr.classList.add("gone");
    var cell = tr.cells[0];
    var old = cell.querySelector(".gone-note");
    if (old) old.remove();
    var link = cell.querySelector("a.name");
    if (deleted && link) link.replaceWith(document.createTextNode(link.textContent));
    var note = document.createElement("span");
    note.className = "gone-note";
    var reload = document.createElement("a");
    reload.href = location.href;
    reload.textContent = "reload";
    note.append(why + " — ", reload);
    cell.append(" ", note);
  }

  // liveCounts returns a function that fetches the counts by status
  // again, at most once a second however many changes arrive, and swaps
  // them in.
  function liveCounts(ul) {
    var timer = null;
    function flush() {
      timer = null;
      fetch(ul.dataset.src + location.search, { credentials: "same-origin" })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.text(); })
        .then(function (html) {
          var tpl = document.createElement("template");
          tpl.innerHTML = html;
          var fresh = tpl.content.getElementById("counts");
          if (fresh) {
            ul.replaceWith(fresh);
            ul = fresh;
          }
        })
        .catch(function () {});
    }
    return function () {
      if (ul && !timer) timer = setTimeout(flush, 1000);
    };
  }

  // A connection's page: when it changes, its heading, fields and events
  // are fetched again and swapped in; the action forms are left alone,
  // so nothing typed there is lost.
  function liveConnection(head) {
    function refetch() {
      fetch(location.pathname, { credentials: "same-origin" })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.text(); })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          ["conn", "fields", "events"].forEach(function (id) {
            var fresh = doc.getElementById(id), old = document.getElementById(id);
            if (!fresh || !old) return;
            old.replaceWith(fresh);
          });
          tick();
        })
        .catch(function () {});
    }
    stream(head, function (name) { if (name === head.dataset.name) refetch(); }, refetch);
  }

  // The connect form shows only the chosen provider's own fields, and
  // its default scopes as the scopes field's placeholder.
  function providerFields(form) {
    var select = form.querySelector("#provider");
    var scopes = form.querySelector("#scopes");
    function show() {
      var opt = select.options[select.selectedIndex];
      scopes.placeholder = opt ? opt.dataset.scopes || "" : "";
      form.querySelectorAll(".provider-fields").forEach(function (fs) {
        var on = fs.dataset.provider === select.value;
        fs.hidden = !on;
        fs.disabled = !on;
      });
    }
    select.addEventListener("change", show);
    show();
  }

  function copyButtons() {
    document.querySelectorAll("button[data-copy]").forEach(function (b) {
      b.addEventListener("click", function () {
        var input = document.getElementById(b.dataset.copy);
        input.select();
        var done = function () { b.textContent = "Copied"; };
        if (navigator.clipboard) navigator.clipboard.writeText(input.value).then(done, function () {});
        else if (document.execCommand("copy")) done();
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 1000);
    var table = document.getElementById("connections");
    if (table) liveRows(table);
    var head = document.getElementById("conn");
    if (head && head.dataset.live) liveConnection(head);
    var form = document.getElementById("connect-form");
    if (form) providerFields(form);
    copyButtons();
  });
})();
