/* Omni-Annotate media viewers: linked image zoom/pan + flicker, synced video, wavesurfer audio A/B,
 * linked three.js mesh views, text scroll sync, must-view coverage events and readiness markers.
 * Plain script (no build). wavesurfer and three.js are imported lazily from the URLs in
 * #workspace[data-wavesurfer-src] / [data-three-src], only when the pair needs them. Load it with
 * nonce="{{ request.csp_nonce }}": the audio player's styles need the page's CSP nonce.
 * API: window.OmniViewers.init(root) / .destroy(root). */
(() => {
  'use strict';
  if (window.OmniViewers) return;

  const KEY = '__omniViewers';
  const FAIL = 'This media could not be loaded';
  const live = new Set();
  const mods = new Map();
  // The page's CSP nonce, from this script's own tag: wavesurfer puts a <style> in its shadow root,
  // which a style-src without 'unsafe-inline' admits only with the nonce.
  const NONCE = (document.currentScript && document.currentScript.nonce) || '';

  const $ = (sel, el) => el.querySelector(sel);
  const $$ = (sel, el) => Array.from(el.querySelectorAll(sel));
  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
  const other = (s) => (s === 'A' ? 'B' : 'A');
  const fmt = (t) => {
    t = Math.max(0, t || 0);
    const m = Math.floor(t / 60), s = t - m * 60;
    return m + ':' + (s < 10 ? '0' : '') + s.toFixed(1);
  };
  const h = (tag, attrs, text) => {
    const el = document.createElement(tag);
    for (const k in attrs || {}) el.setAttribute(k, attrs[k]);
    if (text != null) el.textContent = text;
    return el;
  };

  function importLib(root, attr) {
    const src = root.getAttribute(attr);
    if (!src) return Promise.reject(new Error('#workspace has no ' + attr));
    const url = new URL(src, document.baseURI).href;
    if (!mods.has(url)) mods.set(url, import(url).catch((e) => { mods.delete(url); throw e; }));
    return mods.get(url);
  }

  // -- readiness / errors / coverage
  function ready(el, extra) {
    if (el.dataset.error) return;
    Object.assign(el.dataset, extra || {});
    el.dataset.ready = '1';
  }

  function fail(el, err) {
    if (el.dataset.error) return;
    const msg = String((err && (err.message || err.type)) || err || 'error');
    el.dataset.error = msg;
    delete el.dataset.ready;
    const slot = el.closest('.viewer-slot, .input-media') || el.parentNode;
    const box = h('div', { class: 'viewer-error', role: 'alert', title: msg }, FAIL);
    if (slot) slot.appendChild(box);
    console.warn('[viewers]', msg, el);
  }

  function coverage(ctx, side, kind, value) {
    if (ctx.dead || !side) return;
    value = clamp(Math.round(value * 1000) / 1000, 0, 1);
    const prev = ctx.root.omniCoverage[side];
    if (prev && prev.value === value && prev.kind === kind) return;
    ctx.root.omniCoverage[side] = { kind, value };
    ctx.root.dispatchEvent(new CustomEvent('omni:coverage', { bubbles: true, detail: { side, kind, value } }));
  }

  // Fraction of a media element's duration covered by its (normalised, seek-proof) played ranges.
  function played(m) {
    const d = m.duration;
    if (!(d > 0) || !isFinite(d)) return 0;
    let sum = 0;
    for (let i = 0; i < m.played.length; i++) sum += m.played.end(i) - m.played.start(i);
    return d - sum < 0.1 ? 1 : sum / d;
  }

  // -- toolbar / keys
  function button(tb, label, key, fn, pressed) {
    const b = h('button', { type: 'button', class: 'omni-btn' });
    b.setLabel = (l) => { b.textContent = key ? l + ' (' + key + ')' : l; };
    b.setLabel(label);
    if (key) b.setAttribute('aria-keyshortcuts', key === 'Space' ? 'Space' : key.toLowerCase());
    if (pressed != null) b.setAttribute('aria-pressed', String(!!pressed));
    b.addEventListener('mousedown', (e) => e.preventDefault()); // keep focus off the button
    b.addEventListener('click', fn);
    tb.appendChild(b);
    return b;
  }
  const press = (b, on) => b.setAttribute('aria-pressed', String(!!on));

  function onKey(ctx, e) {
    if (e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented) return;
    const t = e.target;
    if (t && t.closest && (t.isContentEditable || t.closest('input, textarea, select'))) return;
    if (ctx.dialog && ctx.dialog.open) return;
    let k = e.key === ' ' || e.key === 'Spacebar' ? 'Space' : e.key.length === 1 ? e.key.toLowerCase() : e.key;
    if (k === 'Space' && t && t.closest && t.closest('button, a[href], summary, [role=button]')) return;
    if (k === '=') k = '+';
    if (k === '_') k = '-';
    const fn = ctx.keys[k];
    if (!fn) return;
    if (e.repeat && !',.+-'.includes(k)) { e.preventDefault(); return; }
    if (fn(e) !== false) e.preventDefault();
  }

  // -- full-size image dialog
  function openFull(ctx, img, label) {
    if (!img.naturalWidth) return;
    let d = ctx.dialog;
    if (!d) {
      d = ctx.dialog = h('dialog', { class: 'omni-dialog', 'aria-label': 'Full-size image' });
      d.addEventListener('click', () => d.close());
      ctx.root.appendChild(d);
      ctx.fns.push(() => { if (d.open) d.close(); d.remove(); });
    }
    d.textContent = '';
    const bar = h('div', { class: 'omni-dialog-bar' }, (label ? label + ' · ' : '') +
      img.naturalWidth + '×' + img.naturalHeight + ' px · click or Esc to close');
    d.append(bar, h('img', { src: img.currentSrc || img.src, alt: img.alt || '' }));
    d.showModal();
  }

  // What a click on an image does (open it full size), also from the keyboard: Tab to it, Enter or Space.
  function fullSizeControl(ctx, el, img, label) {
    el.tabIndex = 0;
    el.setAttribute('role', 'button');
    el.setAttribute('aria-label', label + ': open full size');
    el.addEventListener('keydown', (e) => {
      if (e.key !== 'Enter' && e.key !== ' ') return;
      e.preventDefault();
      openFull(ctx, img, label);
    });
  }

  function watchImage(img) {
    const ok = () => (img.naturalWidth > 0 ? ready(img, { width: img.naturalWidth, height: img.naturalHeight })
      : fail(img, 'image has no pixels'));
    img.decode().then(ok, () => (img.complete && img.naturalWidth > 0 ? ok() : fail(img, 'image could not be decoded')));
  }

  function watchMedia(m, extra) {
    const ok = () => ready(m, { duration: String(Math.round(m.duration * 1000) / 1000) });
    const bad = () => fail(m, (m.error && (m.error.message || 'media error ' + m.error.code)) || 'media error');
    if (m.error) bad();
    else if (m.readyState >= 2) ok();
    m.addEventListener('loadeddata', ok);
    m.addEventListener('error', bad);
    if (extra) m.addEventListener('loadeddata', extra, { once: true });
  }

  // -- image
  // Shared transform in fractions of each image's layout box, so differently sized images stay aligned.
  function imageViewer(ctx, items, tb) {
    const z = { s: 1, x: 0, y: 0 };
    let flick = null;
    const zoomLabel = h('span', { class: 'omni-label' }, '100%');
    const apply = () => {
      z.x = clamp(z.x, 1 - z.s, 0);
      z.y = clamp(z.y, 1 - z.s, 0);
      const tf = z.s === 1 ? '' : 'translate(' + z.x * 100 + '%,' + z.y * 100 + '%) scale(' + z.s + ')';
      for (const it of items) {
        it.el.style.transform = tf;
        it.frame.classList.toggle('omni-zoomed', z.s > 1);
      }
      zoomLabel.textContent = Math.round(z.s * 100) + '%';
    };
    const zoomAt = (s, fx, fy) => {
      s = clamp(s, 1, 16);
      const u = (fx - z.x) / z.s, v = (fy - z.y) / z.s;
      z.x = fx - s * u; z.y = fy - s * v; z.s = s;
      apply();
    };
    for (const it of items) {
      const img = it.el;
      let f = img.parentNode;
      if (!f.classList.contains('omni-frame')) {
        f = h('div', { class: 'omni-frame' });
        img.before(f);
        f.appendChild(img);
        f.appendChild(h('span', { class: 'omni-badge', 'aria-hidden': 'true' }, it.side));
      }
      it.frame = f;
      fullSizeControl(ctx, f, img, 'Response ' + it.side);
      img.draggable = false;
      watchImage(img);
      const local = (e) => [(e.clientX - f.getBoundingClientRect().left - img.offsetLeft) / (img.offsetWidth || 1),
        (e.clientY - f.getBoundingClientRect().top - img.offsetTop) / (img.offsetHeight || 1)];
      let drag = null;
      f.addEventListener('wheel', (e) => {
        if (!img.dataset.ready || (z.s <= 1 && e.deltaY > 0)) return;
        e.preventDefault();
        const [fx, fy] = local(e);
        zoomAt(z.s * Math.exp(-e.deltaY * (e.deltaMode ? 33 : 1) * 0.002), fx, fy);
      }, { passive: false });
      f.addEventListener('pointerdown', (e) => {
        if (e.button !== 0) return;
        e.preventDefault();
        drag = { x: e.clientX, y: e.clientY, zx: z.x, zy: z.y, moved: false };
        f.setPointerCapture(e.pointerId);
      });
      f.addEventListener('pointermove', (e) => {
        if (!drag) return;
        const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
        if (Math.abs(dx) + Math.abs(dy) > 4) drag.moved = true;
        if (z.s > 1 && drag.moved) {
          z.x = drag.zx + dx / (img.offsetWidth || 1);
          z.y = drag.zy + dy / (img.offsetHeight || 1);
          apply();
        }
      });
      f.addEventListener('pointerup', () => {
        if (drag && !drag.moved) openFull(ctx, img, 'Response ' + it.side);
        drag = null;
      });
      f.addEventListener('pointercancel', () => { drag = null; });
    }
    const setFlicker = (mode) => {
      flick = mode;
      ctx.sides.classList.toggle('omni-flicker', !!mode);
      for (const art of $$('.side', ctx.sides)) art.classList.toggle('omni-hidden', !!mode && art.dataset.side !== mode);
      fb.setLabel(mode ? 'Showing ' + mode + ' · swap' : 'Flicker A/B');
      press(fb, mode);
      back.hidden = !mode;
    };
    ctx.fns.push(() => setFlicker(null));
    const zin = () => zoomAt(z.s * 1.25, 0.5, 0.5), zout = () => zoomAt(z.s / 1.25, 0.5, 0.5);
    const reset = () => { z.s = 1; z.x = z.y = 0; apply(); };
    button(tb, 'Zoom in', '+', zin);
    button(tb, 'Zoom out', '−', zout);
    button(tb, 'Reset', '0', reset);
    tb.appendChild(zoomLabel);
    const fb = button(tb, 'Flicker A/B', 'F', () => ctx.keys.f(), false);
    const back = button(tb, 'Side by side', 'Esc', () => setFlicker(null));
    back.hidden = true;
    tb.appendChild(h('span', { class: 'omni-hint' }, 'Wheel to zoom, drag to pan, click for full size'));
    Object.assign(ctx.keys, {
      '+': zin, '-': zout, '0': reset,
      f: () => setFlicker(flick === 'A' ? 'B' : 'A'),
      Escape: () => (flick ? setFlicker(null) : false),
    });
  }

  // -- video
  function videoViewer(ctx, items, tb) {
    const els = items.map((it) => it.el);
    const fps = Number(ctx.sides.dataset.fps) || 30;
    let loop = false, raf = 0, sound = 0;
    const dur = () => Math.max(0, ...els.map((v) => (isFinite(v.duration) ? v.duration : 0)));
    const master = () => els.reduce((a, b) => ((b.duration || 0) > (a.duration || 0) ? b : a));
    const playing = () => els.some((v) => !v.paused && !v.ended);
    const canPlayAt = (v, t) => v.readyState >= 1 && t < v.duration - 0.03;
    const seek = (t) => els.forEach((v) => { if (v.readyState >= 1) v.currentTime = clamp(t, 0, v.duration || 0); });
    const play = () => {
      if (master().currentTime >= dur() - 0.03) seek(0);
      const t = master().currentTime;
      els.forEach((v) => { if (canPlayAt(v, t) || v === master()) v.play().catch(() => {}); });
      tick();
    };
    const pause = () => els.forEach((v) => v.pause());
    const toggle = () => (playing() ? pause() : play());
    const step = (n) => { pause(); seek(clamp(master().currentTime + n / fps, 0, dur())); ui(); };

    const pb = button(tb, 'Play', 'Space', toggle);
    const scrub = h('input', { type: 'range', min: '0', max: '1000', step: '1', value: '0', class: 'omni-scrub', 'aria-label': 'Seek both videos' });
    const time = h('span', { class: 'omni-label omni-time' }, '0:00.0 / 0:00.0');
    scrub.addEventListener('input', () => { seek((scrub.value / 1000) * dur()); ui(); });
    scrub.addEventListener('change', () => scrub.blur());
    tb.append(scrub, time);
    button(tb, '◀ Frame', ',', () => step(-1));
    button(tb, 'Frame ▶', '.', () => step(1));
    const lb = button(tb, 'Loop', 'L', () => { loop = !loop; press(lb, loop); }, false);
    const speed = h('select', { class: 'omni-speed', 'aria-label': 'Playback speed' });
    for (const r of [0.25, 0.5, 1, 1.5, 2]) speed.append(new Option(r + '×', r, r === 1, r === 1));
    speed.addEventListener('change', () => {
      els.forEach((v) => { v.playbackRate = v.defaultPlaybackRate = Number(speed.value); });
      speed.blur();
    });
    tb.appendChild(speed);
    const sb = button(tb, 'Sound: off', 'M', () => {
      sound = (sound + 1) % (els.length + 1);
      items.forEach((it, i) => { it.el.muted = sound !== i + 1; });
      sb.setLabel('Sound: ' + (sound ? items[sound - 1].side : 'off'));
    });

    function ui() {
      const m = master(), d = dur();
      if (document.activeElement !== scrub) scrub.value = d ? Math.round((m.currentTime / d) * 1000) : 0;
      time.textContent = fmt(m.currentTime) + ' / ' + fmt(d);
      pb.setLabel(playing() ? 'Pause' : 'Play');
    }
    // While playing, follow the longest video and pull the others back when they drift > 0.1 s.
    function tick() {
      cancelAnimationFrame(raf);
      const m = master(), t = m.currentTime;
      if (!m.paused) {
        for (const v of els) {
          if (v === m || v.seeking || !canPlayAt(v, t)) continue;
          if (Math.abs(v.currentTime - t) > 0.1) v.currentTime = t;
          if (v.paused) v.play().catch(() => {});
        }
      }
      ui();
      if (playing()) raf = requestAnimationFrame(tick);
    }
    ctx.fns.push(() => { cancelAnimationFrame(raf); pause(); });

    items.forEach((it) => {
      const v = it.el;
      v.controls = false;
      v.playsInline = true;
      v.muted = true;
      if (v.preload !== 'auto') v.preload = 'auto';
      watchMedia(v, () => { if (v.paused && v.currentTime === 0) v.currentTime = 0.001; }); // paint the first frame
      const cov = () => coverage(ctx, it.side, 'video', played(v));
      v.addEventListener('timeupdate', cov);
      v.addEventListener('pause', cov);
      v.addEventListener('click', toggle);
      for (const ev of ['play', 'pause', 'seeked', 'loadedmetadata']) v.addEventListener(ev, ui);
      v.addEventListener('ended', () => {
        cov();
        if (playing()) return;
        if (loop) { seek(0); play(); } else ui();
      });
      coverage(ctx, it.side, 'video', 0);
    });
    Object.assign(ctx.keys, { Space: toggle, ',': () => step(-1), '.': () => step(1), l: () => lb.click(), m: () => sb.click() });
  }

  // -- audio
  async function audioViewer(ctx, items, tb) {
    const colors = { A: ['#9fb5ef', '#2f5bd3'], B: ['#f2c08a', '#c0650f'] };
    const S = {};
    let cur = items[0].side;
    const btn = {};
    for (const it of items) btn[it.side] = button(tb, 'Play ' + it.side, it.side, () => playSide(it.side));
    const swb = button(tb, 'Switch A↔B', 'T', () => switchSide());
    button(tb, 'Play/Pause', 'Space', () => toggle());
    const time = h('span', { class: 'omni-label omni-time' }, '');
    tb.appendChild(time);
    Object.assign(ctx.keys, { a: () => playSide('A'), b: () => playSide('B'), t: () => switchSide(), Space: () => toggle() });
    items.forEach((it) => coverage(ctx, it.side, 'audio', 0));

    let WaveSurfer;
    try {
      WaveSurfer = (await importLib(ctx.root, 'data-wavesurfer-src')).default;
    } catch (e) {
      items.forEach((it) => fail(it.el, 'audio player could not be loaded: ' + e.message));
      return;
    }
    if (ctx.dead) return;

    function ui() {
      for (const s in btn) btn[s].setLabel((S[s] && S[s].isPlaying() ? 'Pause ' : 'Play ') + s);
      for (const art of $$('.side', ctx.sides)) art.classList.toggle('omni-current', art.dataset.side === cur);
      const w = S[cur];
      time.textContent = w ? cur + ' ' + fmt(w.getCurrentTime()) + ' / ' + fmt(w.getDuration()) : '';
    }
    function playSide(s) {
      const w = S[s];
      if (!w) return;
      if (s === cur && w.isPlaying()) w.pause();
      else {
        for (const o in S) if (o !== s) S[o].pause();
        cur = s;
        w.play().catch(() => {});
      }
      ui();
    }
    function toggle() { playSide(cur); }
    function switchSide() { // continue on the other side from the same timestamp
      const o = other(cur), from = S[cur], to = S[o];
      if (!to || !from) return;
      const t = from.getCurrentTime();
      from.pause();
      to.setTime(Math.min(t, Math.max(0, to.getDuration() - 0.01)));
      cur = o;
      to.play().catch(() => {});
      ui();
    }
    swb.disabled = items.length < 2;

    for (const it of items) {
      const [wave, prog] = colors[it.side] || colors.A;
      const pk = await peaksFor(it.el); // precomputed by the media pipeline: drawn at once, nothing decoded
      if (ctx.dead) return;
      let ws;
      try {
        ws = WaveSurfer.create({
          container: it.el, url: it.el.dataset.src, height: 96, waveColor: wave, progressColor: prog,
          cursorColor: prog, cursorWidth: 2, barWidth: 2, barGap: 1, barRadius: 2, normalize: true, dragToSeek: true,
          cspNonce: NONCE,
          ...(pk ? { peaks: [pk.peaks], duration: pk.duration } : {}),
        });
      } catch (e) {
        fail(it.el, e);
        continue;
      }
      S[it.side] = ws;
      const media = ws.getMediaElement();
      let last = 0;
      const cov = () => coverage(ctx, it.side, 'audio', played(media));
      ws.on('ready', (d) => { ready(it.el, { duration: String(Math.round(d * 1000) / 1000) }); ui(); });
      ws.on('error', (e) => fail(it.el, e));
      ws.on('timeupdate', () => {
        const now = performance.now();
        if (now - last > 200) { last = now; cov(); if (it.side === cur) ui(); }
      });
      ws.on('pause', () => { cov(); ui(); });
      ws.on('play', ui);
      ws.on('finish', () => { cov(); ui(); });
      ws.on('interaction', () => {
        if (cur !== it.side && S[cur] && S[cur].isPlaying()) { S[cur].pause(); cur = it.side; ws.play().catch(() => {}); }
        cur = it.side;
        ui();
      });
    }
    ctx.fns.push(() => { for (const s in S) { try { S[s].pause(); S[s].destroy(); } catch (e) { /* already gone */ } } });
    ui();
  }

  async function peaksFor(el) {
    if (!el.dataset.peaks) return null;
    try {
      const r = await fetch(el.dataset.peaks, { credentials: 'same-origin' });
      if (!r.ok) return null;
      const pk = await r.json();
      return Array.isArray(pk.peaks) && pk.peaks.length && pk.duration > 0 ? pk : null;
    } catch (e) {
      return null; // wavesurfer decodes the audio itself instead
    }
  }

  // -- 3D (the three.js scene code lives in the lazy bundle, see vendor-src/viewer3d.entry.js)
  function hasWebGL() {
    try {
      const gl = document.createElement('canvas').getContext('webgl2') || document.createElement('canvas').getContext('webgl');
      if (!gl) return false;
      const lose = gl.getExtension('WEBGL_lose_context');
      if (lose) lose.loseContext(); // browsers cap live contexts: give this probe's back at once
      return true;
    } catch (e) {
      return false;
    }
  }

  async function meshViewer(ctx, items, tb) {
    items.forEach((it) => coverage(ctx, it.side, 'mesh', 0));
    if (!hasWebGL()) { meshViews(ctx, items, tb, 'WebGL is turned off or not available in this browser'); return; }
    let pair = null, wire = false, spin = false, fellBack = false;
    const wb = button(tb, 'Wireframe', 'W', () => ctx.keys.w(), false);
    const rb = button(tb, 'Auto-rotate', 'O', () => ctx.keys.o(), false);
    // Orbiting from the keyboard (15° a press, held keys repeat) counts for must-view gating like a drag.
    const turn = (radians) => { if (pair) pair.orbitBy(radians); };
    const lb = button(tb, '◀ Orbit', ',', () => turn(-Math.PI / 12));
    const ob = button(tb, 'Orbit ▶', '.', () => turn(Math.PI / 12));
    const hint = tb.appendChild(h('span', { class: 'omni-hint' }, 'Drag to orbit (both sides move together), wheel to zoom, right-drag to pan'));
    Object.assign(ctx.keys, {
      ',': () => turn(-Math.PI / 12),
      '.': () => turn(Math.PI / 12),
      w: () => { press(wb, wire = !wire); if (pair) pair.setWire(wire); },
      o: () => { press(rb, spin = !spin); if (pair) pair.setSpin(spin); },
    });
    // No 3D viewer (WebGL refused a context, the bundle did not load): the pipeline's renders instead.
    const fallBack = (why) => {
      if (fellBack || ctx.dead) return;
      fellBack = true;
      if (pair) pair.dispose();
      pair = null;
      [wb, rb, lb, ob, hint].forEach((el) => el.remove());
      for (const k of ['w', 'o', ',', '.']) delete ctx.keys[k];
      meshViews(ctx, items, tb, why);
    };
    let lib;
    try {
      lib = await importLib(ctx.root, 'data-three-src');
    } catch (e) {
      fallBack('the 3D viewer could not be loaded (' + e.message + ')');
      return;
    }
    if (ctx.dead || fellBack) return;
    pair = lib.createMeshPair(items, {
      ready: (el, tris) => ready(el, { triangles: String(tris) }),
      fail: (el, err) => (/WebGL/.test(String(err && err.message)) ? fallBack(err.message) : fail(el, err)),
      // linked orbit: both sides were seen from the same angles
      orbit: (a) => items.forEach((it) => coverage(ctx, it.side, 'mesh', Math.min(1, a / (Math.PI / 2)))),
    });
    ctx.fns.push(() => { if (pair) pair.dispose(); });
    if (wire) pair.setWire(true);
    if (spin) pair.setSpin(true);
  }

  // The pipeline's renders of both meshes, one view at a time from the same camera on both sides;
  // must-view coverage is the share of views seen.
  function meshViews(ctx, items, tb, why) {
    const parse = (el) => (el.dataset.views || '').split(' ').filter(Boolean).map((part) => {
      const at = part.indexOf('=');
      return { name: part.slice(0, at), url: part.slice(at + 1) };
    });
    const lists = items.map((it) => parse(it.el));
    let names = lists[0] ? lists[0].map((v) => v.name) : [];
    if (!names.length || lists.some((l) => l.length !== names.length)) {
      // processed before the pipeline rendered views: its one three-quarter render
      names = ['three-quarter'];
      items.forEach((it, i) => { lists[i] = it.el.dataset.thumb ? [{ name: names[0], url: it.el.dataset.thumb }] : []; });
    }
    // What happened and the view buttons, above the two sides where the eye already is.
    const note = h('div', { class: 'viewer-note', role: 'status' });
    note.appendChild(h('span', null, '3D view unavailable: ' + why + '. Rendered views of both meshes, from the same cameras'
      + (names.length > 1 ? '; see each before voting:' : '.')));
    (ctx.sides || tb).before(note);
    ctx.fns.push(() => note.remove());
    const gate = ctx.root.querySelector('[data-gate]');
    if (gate && names.length > 1) gate.textContent = 'Voting unlocks after every view of both responses has been seen.';
    const seen = items.map(() => new Set());
    const imgs = items.map((it, i) => {
      it.el.dataset.fallback = 'views';
      if (!lists[i].length) { fail(it.el, 'no rendered views of this mesh'); return null; }
      const img = h('img', { class: 'mesh-view', alt: '' });
      img.addEventListener('load', () => {
        const at = Number(img.dataset.index);
        seen[i].add(at);
        ready(it.el, { views: String(names.length), seen: String(seen[i].size) });
        coverage(ctx, it.side, 'mesh', seen[i].size / names.length);
      });
      img.addEventListener('error', () => fail(it.el, 'the rendered view could not be loaded'));
      it.el.appendChild(img);
      return img;
    });
    const buttons = names.length > 1
      ? names.map((name, at) => button(note, name[0].toUpperCase() + name.slice(1), null, () => show(at), at === 0)) : [];
    let current = 0;
    function show(at) {
      current = at;
      buttons.forEach((b, j) => press(b, j === at));
      imgs.forEach((img, i) => {
        if (!img) return;
        img.dataset.index = String(at);
        img.alt = names[at] + ' view of ' + items[i].el.getAttribute('aria-label');
        img.src = lists[i][at].url;
      });
    }
    if (names.length > 1) {
      note.appendChild(h('span', { class: 'omni-hint' }, 'V: next view'));
      ctx.keys.v = () => show((current + 1) % names.length);
    }
    show(0);
  }

  // -- text
  function textViewer(ctx, items, tb) {
    const els = items.map((it) => it.el);
    if (els.length !== 2 || !els.some((el) => el.scrollHeight > el.clientHeight + 2)) return;
    let on = true, ignore = null;
    const b = button(tb, 'Sync scroll', null, () => { on = !on; press(b, on); }, true);
    els.forEach((el, i) => el.addEventListener('scroll', () => {
      if (ignore === el) { ignore = null; return; }
      if (!on) return;
      const o = els[1 - i], max = el.scrollHeight - el.clientHeight, omax = o.scrollHeight - o.clientHeight;
      const top = Math.round((max > 0 ? el.scrollTop / max : 0) * omax);
      if (Math.abs(o.scrollTop - top) >= 1) { ignore = o; o.scrollTop = top; }
    }, { passive: true }));
  }

  // -- input media (single, simple)
  function inputViewer(ctx, box) {
    const el = $('.viewer-media', box);
    if (!el) return;
    const kind = box.dataset.viewer || (el.tagName === 'IMG' ? 'image' : el.tagName === 'VIDEO' ? 'video' : 'audio');
    if (kind === 'image') {
      watchImage(el);
      el.classList.add('omni-zoomable');
      el.addEventListener('click', () => openFull(ctx, el, 'Input'));
      fullSizeControl(ctx, el, el, 'Input');
    } else if (kind === 'video' || el.tagName === 'VIDEO') {
      el.controls = true;
      watchMedia(el);
      ctx.fns.push(() => el.pause());
      inputKey(ctx, el);
    } else if (kind === 'audio') {
      let a = $('audio', el);
      if (!a) {
        a = h('audio', { controls: '', preload: 'metadata', src: el.dataset.src || '' });
        el.appendChild(a);
      }
      a.addEventListener('loadedmetadata', () => ready(el, { duration: String(Math.round(a.duration * 1000) / 1000) }));
      a.addEventListener('error', () => fail(el, (a.error && a.error.message) || 'audio error'));
      if (a.readyState >= 1) ready(el, { duration: String(a.duration) });
      ctx.fns.push(() => a.pause());
      inputKey(ctx, a);
    }
  }

  // Space plays and pauses the input clip when the responses have no clip of their own (TV2T, TA2T, and
  // the writer's page); a response viewer binds Space for its own clips, and wins.
  function inputKey(ctx, media) {
    if (!ctx.keys.Space) ctx.keys.Space = () => { if (media.paused) media.play().catch(() => {}); else media.pause(); };
  }

  // -- lifecycle
  const VIEWERS = { image: imageViewer, video: videoViewer, audio: audioViewer, mesh: meshViewer, text: textViewer };

  function init(root) {
    if (!root || !root.querySelector) return null;
    const sides = $('.sides', root);
    const old = root[KEY];
    if (old) {
      if (old.sides === sides) return old;
      destroy(root); // content was swapped inside the same root
    }
    const ctx = { root, sides, fns: [], keys: {}, dead: false, dialog: null };
    root[KEY] = ctx;
    root.dataset.viewers = '1';
    root.omniCoverage = {};
    live.add(ctx);
    const onkey = (e) => onKey(ctx, e);
    document.addEventListener('keydown', onkey);
    ctx.fns.push(() => document.removeEventListener('keydown', onkey));

    let tb = $('.viewer-toolbar', root);
    if (!tb && sides) { tb = h('div', { class: 'viewer-toolbar' }); sides.after(tb); }
    if (tb) ctx.fns.push(() => { tb.textContent = ''; });
    const kind = sides && sides.dataset.viewer;
    const items = sides ? $$('.side', sides).map((art) => ({ side: art.dataset.side, el: $('.viewer-media, .md', art) }))
      .filter((it) => it.el) : [];
    if (VIEWERS[kind] && items.length) {
      tb.dataset.kind = kind;
      const oops = (e) => {
        console.error('[viewers]', e);
        items.forEach((it) => it.el.classList.contains('viewer-media') && !it.el.dataset.ready && fail(it.el, e));
      };
      try { Promise.resolve(VIEWERS[kind](ctx, items, tb)).catch(oops); } catch (e) { oops(e); }
    }
    $$('.input-media', root).forEach((box) => inputViewer(ctx, box));
    return ctx;
  }

  function destroy(root) {
    const ctx = root && root[KEY];
    if (!ctx) return;
    ctx.dead = true;
    live.delete(ctx);
    delete root[KEY];
    delete root.dataset.viewers;
    for (const fn of ctx.fns.splice(0).reverse()) {
      try { fn(); } catch (e) { console.warn('[viewers] destroy', e); }
    }
    if (!root.isConnected) { // release decoders/network of detached media at once
      $$('video, audio', root).forEach((m) => { m.pause(); m.removeAttribute('src'); m.load(); });
    }
  }

  const boot = () => init(document.getElementById('workspace'));
  document.addEventListener('htmx:load', (e) => {
    const t = e.target;
    if (!t || !t.querySelector) return;
    const ws = t.id === 'workspace' ? t : t.querySelector('#workspace') || t.closest('#workspace');
    if (ws) init(ws);
  });
  document.addEventListener('htmx:beforeCleanupElement', (e) => { if (e.target && e.target[KEY]) destroy(e.target); });
  new MutationObserver(() => {
    for (const ctx of live) if (!ctx.root.isConnected || (ctx.sides && !ctx.sides.isConnected)) destroy(ctx.root);
  }).observe(document.documentElement, { childList: true, subtree: true });
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();

  window.OmniViewers = { init, destroy };
})();
