// Side-by-side 3D viewer for static/js/viewers.js. scripts/build_vendor.sh bundles this file with
// three.js into one minified ES module, static/vendor/three-<version>/viewer3d.bundle.js, which
// viewers.js imports lazily (only for mesh pairs). Edit here, then re-run the build script.
//
//   const pair = createMeshPair([{side: 'A', el}, {side: 'B', el}], {ready, fail, orbit});
//   pair.setWire(bool); pair.setSpin(bool); pair.orbitBy(radians); pair.dispose();
//
// el: <div class="viewer-3d" data-src="URL" data-format="glb|gltf|obj|ply">. Hooks:
//   ready(el, triangles)  model loaded and one frame rendered
//   fail(el, error)       WebGL or the model failed
//   orbit(radians)        accumulated user orbit angle, by pointer or orbitBy (auto-rotate, zoom and pan do not count)
import {
  Box3, Color, DirectionalLight, DoubleSide, Group, HemisphereLight, Mesh, MeshStandardMaterial,
  PerspectiveCamera, PMREMGenerator, Points, PointsMaterial, Scene, Vector3, WebGLRenderer,
} from 'three';
import { OrbitControls } from 'three/examples/jsm/controls/OrbitControls.js';
import { RoomEnvironment } from 'three/examples/jsm/environments/RoomEnvironment.js';
import { GLTFLoader } from 'three/examples/jsm/loaders/GLTFLoader.js';
import { OBJLoader } from 'three/examples/jsm/loaders/OBJLoader.js';
import { PLYLoader } from 'three/examples/jsm/loaders/PLYLoader.js';
import { toCreasedNormals } from 'three/examples/jsm/utils/BufferGeometryUtils.js';

export { REVISION } from 'three';

const materials = (o) => [].concat(o.material || []);
const defaultMaterial = (vertexColors) => new MeshStandardMaterial({
  color: vertexColors ? 0xffffff : 0xb0bace, roughness: 0.6, metalness: 0.05, side: DoubleSide, vertexColors,
});

export async function loadModel(url, format) {
  let obj;
  if (format === 'glb' || format === 'gltf') {
    const gltf = await new GLTFLoader().loadAsync(url), json = gltf.parser.json;
    obj = gltf.scene;
    // Primitives without a material get ours, not glTF's default (fully metallic, black without reflections).
    obj.traverse((o) => {
      const a = o.isMesh && gltf.parser.associations.get(o);
      const prim = a && json.meshes && json.meshes[a.meshes] && json.meshes[a.meshes].primitives[a.primitives];
      if (prim && prim.material === undefined) o.material = defaultMaterial(!!o.geometry.attributes.color);
    });
  } else if (format === 'obj') { // materials (.mtl) are not fetched: always the default material
    obj = await new OBJLoader().loadAsync(url);
    obj.traverse((o) => { if (o.isMesh) o.material = defaultMaterial(!!o.geometry.attributes.color); });
  } else if (format === 'ply') {
    const geo = await new PLYLoader().loadAsync(url);
    const vc = !!geo.attributes.color;
    obj = geo.index ? new Mesh(geo, defaultMaterial(vc))
      : new Points(geo, new PointsMaterial({ // no faces: point cloud
        size: Math.min(0.05, 1.5 / Math.sqrt(geo.attributes.position.count || 1)),
        color: vc ? 0xffffff : 0x4a5a7a, vertexColors: vc,
      }));
  } else {
    throw new Error('unsupported 3D format "' + format + '"');
  }
  // No normals: smooth shading, but edges sharper than 40° stay sharp (boxes stay boxes).
  obj.traverse((o) => { if (o.isMesh && o.geometry && !o.geometry.attributes.normal) o.geometry = toCreasedNormals(o.geometry, 0.7); });
  return obj;
}

export function createMeshPair(items, hooks) {
  const views = [];
  let dead = false, syncing = false, wire = false, spin = false, user = false, raf = 0, angle = 0;
  const render = () => views.forEach((v) => v.renderer.render(v.scene, v.camera));
  const setWireOn = (root, on) => root.traverse((o) => { if (o.isMesh) materials(o).forEach((m) => { m.wireframe = on; }); });
  const dirOf = (v) => v.camera.position.clone().sub(v.controls.target).normalize();

  const ro = new ResizeObserver(() => {
    for (const v of views) {
      const w = v.el.clientWidth, h = v.el.clientHeight;
      if (!w || !h) continue;
      v.renderer.setSize(w, h, false);
      v.camera.aspect = w / h;
      v.camera.updateProjectionMatrix();
    }
    render();
  });

  const disposeView = (v) => {
    views.splice(views.indexOf(v) >>> 0, 1);
    v.controls.dispose();
    if (v.env) v.env.dispose();
    v.scene.traverse((o) => {
      if (o.geometry) o.geometry.dispose();
      materials(o).forEach((m) => {
        for (const k in m) if (m[k] && m[k].isTexture) m[k].dispose();
        m.dispose();
      });
    });
    v.renderer.dispose();
    v.renderer.forceContextLoss(); // free the WebGL context now: browsers cap them at ~16
    v.renderer.domElement.remove();
  };

  // Cameras are identical on both sides (models are normalised), so linking is a plain copy.
  const sync = (from) => {
    syncing = true;
    for (const v of views) {
      if (v === from) continue;
      v.camera.position.copy(from.camera.position);
      v.camera.up.copy(from.camera.up);
      v.controls.target.copy(from.controls.target);
      v.controls.update();
    }
    syncing = false;
  };

  const loop = () => {
    raf = 0;
    if (!spin || dead || !views.length) return;
    if (!user) views[0].controls.update(); // autoRotate lives on the first view, the others follow
    raf = requestAnimationFrame(loop);
  };

  async function mount({ side, el }) {
    let renderer;
    try {
      renderer = new WebGLRenderer({ antialias: true, preserveDrawingBuffer: true, powerPreference: 'low-power' });
    } catch (e) {
      hooks.fail(el, new Error('WebGL is not available: ' + e.message));
      return;
    }
    const w = el.clientWidth || 480, h = el.clientHeight || 360;
    renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
    renderer.setSize(w, h, false);
    el.appendChild(renderer.domElement);
    const scene = new Scene();
    scene.background = new Color(0xf1f3f7);
    const camera = new PerspectiveCamera(35, w / h, 0.01, 100);
    // Same rig on both sides: sky/ground hemisphere, a fixed key light and a weak head light.
    const hemi = new HemisphereLight(0xffffff, 0x5a6272, 0.9);
    const key = new DirectionalLight(0xffffff, 3.6), head = new DirectionalLight(0xffffff, 0.5);
    key.position.set(3, 4, 2);
    head.position.set(0, 0, 1);
    camera.add(head);
    scene.add(camera, hemi, key);
    const controls = new OrbitControls(camera, renderer.domElement);
    controls.autoRotateSpeed = 3;
    controls.minDistance = 0.3;
    controls.maxDistance = 12;
    const v = { side, el, renderer, scene, camera, controls, hemi };
    views.push(v);
    views.sort((a, b) => (a.side < b.side ? -1 : 1));

    let obj;
    try {
      obj = await loadModel(el.dataset.src, (el.dataset.format || '').toLowerCase());
    } catch (e) {
      if (!dead) { hooks.fail(el, e); disposeView(v); }
      return;
    }
    if (dead) return;
    // Normalise to a unit bounding sphere centred at the origin: identical framing on both sides.
    const box = new Box3().setFromObject(obj);
    if (box.isEmpty()) { hooks.fail(el, new Error('the model is empty')); disposeView(v); return; }
    const inner = new Group(), outer = new Group();
    inner.add(obj);
    inner.position.copy(box.getCenter(new Vector3())).negate();
    outer.add(inner);
    outer.scale.setScalar(2 / (box.getSize(new Vector3()).length() || 1));
    scene.add(outer);
    let tris = 0;
    obj.traverse((o) => {
      const g = o.isMesh && o.geometry;
      if (g) tris += Math.floor((g.index ? g.index.count : g.attributes.position.count) / 3) * (o.count || 1);
    });
    if (wire) setWireOn(obj, true);

    const lead = views.find((o) => o !== v && o.fitted);
    if (lead) {
      camera.position.copy(lead.camera.position);
      controls.target.copy(lead.controls.target);
    } else {
      const fov = (camera.fov * Math.PI) / 360;
      const dist = 1.08 / Math.sin(Math.min(fov, Math.atan(Math.tan(fov) * camera.aspect)));
      camera.position.set(0.55, 0.42, 1).normalize().multiplyScalar(dist);
    }
    controls.update();
    v.fitted = true;
    let prev = null;
    controls.addEventListener('start', () => { user = true; prev = dirOf(v); });
    controls.addEventListener('end', () => { user = false; prev = null; });
    controls.addEventListener('change', () => {
      if (syncing) return;
      sync(v);
      render();
      if (prev) { // only between start/end, i.e. user input
        const d = dirOf(v);
        angle += prev.angleTo(d);
        prev = d;
        hooks.orbit(angle);
      }
    });
    renderer.render(scene, camera);
    ro.observe(el);
    hooks.ready(el, tris);
    if (spin) api.setSpin(true);
  }

  const api = {
    setWire(on) {
      wire = on;
      views.forEach((v) => setWireOn(v.scene, on));
      render();
    },
    // The keyboard's orbit (viewers.js binds it to keys and buttons): turn both views about the vertical
    // axis, counted like a drag, so a pair gated on orbiting can be unlocked without a pointer.
    orbitBy(radians) {
      const v = views.find((o) => o.fitted);
      if (!v || dead) return;
      const offset = v.camera.position.clone().sub(v.controls.target).applyAxisAngle(v.camera.up, radians);
      v.camera.position.copy(v.controls.target).add(offset);
      v.controls.update(); // its change event syncs the other view and renders
      angle += Math.abs(radians);
      hooks.orbit(angle);
    },
    setSpin(on) {
      spin = on;
      views.forEach((v) => { v.controls.autoRotate = on && v === views[0]; });
      if (on && !raf) raf = requestAnimationFrame(loop);
    },
    dispose() {
      dead = true;
      cancelAnimationFrame(raf);
      ro.disconnect();
      views.slice().forEach(disposeView);
    },
  };

  Promise.all(items.map(mount)).then(() => {
    // Metals look black without reflections: give both sides the same room environment, after
    // data-ready, and only on a hardware GPU (PMREM stalls software GL such as SwiftShader for seconds).
    if (dead || !views.length) return;
    let metal = false;
    views.forEach((v) => v.scene.traverse((o) => { if (o.isMesh) materials(o).forEach((m) => { metal = metal || m.metalness >= 0.5; }); }));
    const gl = views[0].renderer.getContext(), dbg = gl.getExtension('WEBGL_debug_renderer_info');
    if (!metal || /swiftshader|llvmpipe|softpipe|software|basic render/i.test(gl.getParameter(dbg ? dbg.UNMASKED_RENDERER_WEBGL : gl.RENDERER))) return;
    setTimeout(() => {
      if (dead) return;
      for (const v of views) {
        const pm = new PMREMGenerator(v.renderer), room = new RoomEnvironment();
        v.env = pm.fromScene(room, 0.04);
        v.scene.environment = v.env.texture;
        v.scene.environmentIntensity = 0.5;
        v.hemi.intensity = 0.4;
        room.dispose();
        pm.dispose();
      }
      render();
    }, 50);
  });
  return api;
}
