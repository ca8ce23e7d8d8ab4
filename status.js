(function () {
	"use strict";
	var table = document.getElementById("machines");
	var body = table.tBodies[0];
	var live = document.getElementById("live");
	var skew = 0; // server clock minus ours
	var tpl = document.createElement("template");
	function pad(n) { return (n < 10 ? "0" : "") + n; }
	function span(ms) {
		var s = Math.max(0, Math.floor(ms / 1000));
		if (s < 60) { return s + "s"; }
		if (s < 3600) { return Math.floor(s / 60) + "m " + pad(s % 60) + "s"; }
		return Math.floor(s / 3600) + "h " + pad(Math.floor(s / 60) % 60) + "m";
	}
	function tick() {
		var now = Date.now() + skew;
		var ts = document.querySelectorAll("time[data-since]");
		for (var i = 0; i < ts.length; i++) {
			ts[i].textContent = span(now - Number(ts[i].getAttribute("data-since")));
		}
	}
	// The server renders every row and the counters with html/template;
	// this only puts them in place, rows in MAC order.
	function fragment(html) {
		tpl.innerHTML = html;
		return tpl.content.firstElementChild;
	}
	function place(tr) {
		var old = document.getElementById(tr.id);
		if (old) { old.replaceWith(tr); return; }
		var rows = body.rows;
		var lo = 0, hi = rows.length;
		while (lo < hi) {
			var mid = (lo + hi) >> 1;
			if (rows[mid].id < tr.id) { lo = mid + 1; } else { hi = mid; }
		}
		body.insertBefore(tr, rows[lo] || null);
	}
	function update(ev) {
		var d = JSON.parse(ev.data);
		if (d.reset) { location.reload(); return; }
		skew = d.now - Date.now();
		document.getElementById("counters").innerHTML = d.counters;
		for (var i = 0; i < d.rows.length; i++) { place(fragment(d.rows[i])); }
		for (var j = 0; j < d.gone.length; j++) {
			var el = document.getElementById("m-" + d.gone[j]);
			if (el) { el.remove(); }
		}
		var empty = document.getElementById("empty");
		if (empty && body.rows.length) { empty.remove(); }
		table.setAttribute("data-seq", d.seq);
		var asof = document.getElementById("asof");
		asof.textContent = new Date(d.now).toISOString().replace(/\.\d+Z$/, "Z");
		asof.setAttribute("datetime", asof.textContent);
		document.title = "Boot status (" + body.rows.length + " machines)";
		tick();
	}
	if (!window.EventSource) { return; }
	var path = location.pathname.replace(/\/+$/, "");
	var es = new EventSource(path + "/events?since=" + table.getAttribute("data-seq"));
	es.addEventListener("update", update);
	es.onopen = function () { live.textContent = "live"; };
	es.onerror = function () { live.textContent = "reconnecting…"; };
	live.textContent = "connecting…";
	setInterval(tick, 1000);
})();
