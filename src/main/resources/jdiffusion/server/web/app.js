// jdiffusion's page: a form over the job API (/v1), a queue with live progress and previews (WebSocket),
// a gallery from the server's job list, PNG parameters, img2img and a painted inpainting mask.
const $ = (id) => document.getElementById(id);
const FIELDS = ['prompt', 'negative', 'steps', 'cfg', 'count', 'width', 'height', 'seed', 'strength', 'mask-blur'];
let token = sessionStorage.getItem('jdiffusion-token');
let lastSeed = null;
const jobs = new Map(); // id -> {li, ws, timer}

class ApiError extends Error {
  constructor(status, body) {
    const detail = body && body.detail ? body.detail : 'HTTP ' + status;
    super(`${status}: ${detail}` + (body && body.field ? ` (field: ${body.field})` : ''));
    this.status = status;
  }
}

async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = 'Bearer ' + token;
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (r.status === 401) {
    const t = window.prompt('This server needs its token (jdiffusion serve --token):');
    if (t) {
      token = t;
      sessionStorage.setItem('jdiffusion-token', t);
      return api(method, path, body);
    }
  }
  const json = (r.headers.get('content-type') || '').startsWith('application/json') ? await r.json() : null;
  if (!r.ok) throw new ApiError(r.status, json);
  return json;
}

function showError(e) {
  $('error').textContent = e.message || String(e);
  $('error').hidden = false;
}

function clearError() {
  $('error').hidden = true;
  $('error').textContent = '';
}

/** An image URL usable in <img>: with a token the bytes are fetched with the header. */
async function imageSrc(url) {
  if (!token) return url;
  const r = await fetch(url, { headers: { Authorization: 'Bearer ' + token } });
  return URL.createObjectURL(await r.blob());
}

// ---- settings kept in the browser ----
function saveSettings() {
  const s = {};
  for (const f of FIELDS) s[f] = $(f).value;
  s.model = $('model').value;
  s.sampler = $('sampler').value;
  localStorage.setItem('jdiffusion-settings', JSON.stringify(s));
}

function restoreSettings() {
  try {
    const s = JSON.parse(localStorage.getItem('jdiffusion-settings') || '{}');
    for (const f of FIELDS) if (s[f] !== undefined) $(f).value = s[f];
    return s;
  } catch { return {}; }
}

function fillSelect(select, values, wanted) {
  select.replaceChildren(...values.map((v) => new Option(v, v)));
  if (wanted && values.includes(wanted)) select.value = wanted;
}

// ---- the request ----
function maskPainted() {
  const m = $('mask');
  if ($('canvas-wrap').hidden || m.width === 0) return false;
  const d = m.getContext('2d').getImageData(0, 0, m.width, m.height).data;
  for (let i = 3; i < d.length; i += 4) if (d[i] > 0) return true;
  return false;
}

function maskDataUrl() {
  const m = $('mask');
  const c = document.createElement('canvas');
  c.width = m.width;
  c.height = m.height;
  const g = c.getContext('2d');
  g.fillStyle = '#000';
  g.fillRect(0, 0, c.width, c.height);
  const src = m.getContext('2d').getImageData(0, 0, m.width, m.height);
  const out = g.getImageData(0, 0, c.width, c.height);
  for (let i = 0; i < src.data.length; i += 4) {
    if (src.data[i + 3] > 0) out.data[i] = out.data[i + 1] = out.data[i + 2] = 255;
  }
  g.putImageData(out, 0, 0);
  return c.toDataURL('image/png');
}

function requestBody() {
  const body = {
    type: 'txt2img',
    prompt: $('prompt').value,
    negative_prompt: $('negative').value,
    sampler_name: $('sampler').value,
    steps: Number($('steps').value),
    cfg_scale: Number($('cfg').value),
    width: Number($('width').value),
    height: Number($('height').value),
    seed: Number($('seed').value),
    n_iter: Number($('count').value),
    override_settings: { sd_model_checkpoint: $('model').value },
  };
  if ($('fast').checked) body.preset = 'fast'; // the server adds the preset's LoRA
  if (!$('canvas-wrap').hidden) {
    body.type = 'img2img';
    body.init_images = [$('init').toDataURL('image/png')];
    body.denoising_strength = Number($('strength').value);
    if (maskPainted()) {
      body.type = 'inpaint';
      body.mask = maskDataUrl();
      body.mask_blur = Number($('mask-blur').value);
      body.inpainting_fill = 1;
    }
  }
  return body;
}

async function generate() {
  clearError();
  saveSettings();
  try {
    const r = await api('POST', '/v1/jobs', requestBody());
    watch(r.id);
  } catch (e) {
    showError(e);
  }
}

// ---- the queue ----
function watch(id) {
  const li = document.createElement('li');
  li.dataset.id = id;
  li.innerHTML = '<img class="preview" alt="preview"><div><div class="state">queued</div><progress max="1" value="0"></progress></div>'
      + '<button type="button" class="stop">Stop</button>';
  li.querySelector('.stop').addEventListener('click', () => cancel(id));
  $('jobs').prepend(li);
  const job = { li };
  jobs.set(id, job);
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${scheme}//${location.host}/v1/jobs/${id}/ws` + (token ? '?token=' + encodeURIComponent(token) : ''));
  ws.binaryType = 'blob';
  ws.onmessage = (m) => {
    if (typeof m.data === 'string') return update(id, JSON.parse(m.data));
    // ComfyUI's preview frame: int32 type (1 = preview), int32 format (1 = JPEG), then the image
    const img = li.querySelector('.preview');
    const old = img.src;
    img.src = URL.createObjectURL(m.data.slice(8, m.data.size, 'image/jpeg'));
    img.dataset.frames = String(Number(img.dataset.frames || 0) + 1);
    if (old.startsWith('blob:')) URL.revokeObjectURL(old);
  };
  job.ws = ws;
  job.timer = setInterval(async () => {
    try {
      update(id, { type: 'status', ...(await api('GET', '/v1/jobs/' + id)) });
    } catch { /* a transient error: the next poll tries again */ }
  }, 700);
}

function update(id, e) {
  const job = jobs.get(id);
  if (!job) return;
  const li = job.li;
  const status = e.type === 'status' ? e.status : e.type === 'progress' ? 'running' : e.type;
  const progress = e.progress ?? null;
  let text = status;
  if (status === 'queued' && e.queue_position > 0) text = `queued (position ${e.queue_position})`;
  if ((status === 'running' || status === 'started') && e.steps) {
    text = `running: step ${e.step} of ${e.steps}` + (e.image_count > 1 ? `, image ${e.image + 1} of ${e.image_count}` : '')
        + (e.eta_s != null ? `, ETA ${e.eta_s.toFixed(1)} s` : '');
  }
  if (status === 'failed') text = 'failed: ' + (e.error || '');
  li.querySelector('.state').textContent = text;
  li.dataset.status = status;
  if (progress != null) li.querySelector('progress').value = progress;
  if (status === 'succeeded') li.querySelector('progress').value = 1;
  if (status === 'succeeded' || status === 'failed' || status === 'cancelled') {
    clearInterval(job.timer);
    if (job.ws && job.ws.readyState <= 1) job.ws.close();
    li.querySelector('.stop').disabled = true;
    jobs.delete(id);
    if (status === 'succeeded') loadGallery();
  }
}

async function cancel(id) {
  try {
    const r = await api('DELETE', '/v1/jobs/' + id);
    update(id, { type: 'status', ...r });
  } catch (e) {
    showError(e);
  }
}

// ---- the gallery: every finished image, newest first, from the server's job list ----
async function loadGallery() {
  try {
    const r = await api('GET', '/v1/jobs?status=succeeded&limit=100');
    const tiles = [];
    for (const j of r.jobs) {
      if (j.parameters && j.parameters.seed !== undefined && lastSeed === null) lastSeed = j.parameters.seed;
      j.images.forEach((url, k) => {
        const img = document.createElement('img');
        img.alt = j.parameters.prompt || '';
        img.dataset.job = j.id;
        img.dataset.url = url;
        img.tabIndex = 0;
        img.title = `${j.parameters.prompt} - seed ${j.parameters.seed + k}`;
        imageSrc(url).then((src) => { img.src = src; });
        const open = () => view(j, k, img);
        img.addEventListener('click', open);
        img.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') open(); });
        tiles.push(img);
      });
    }
    $('gallery').replaceChildren(...tiles);
  } catch (e) {
    showError(e);
  }
}

let viewing = null;
async function view(job, k, img) {
  viewing = { job, k, img };
  $('viewer-img').src = img.src;
  $('viewer-download').href = img.src;
  $('viewer-download').download = `${job.id}-${k}.png`;
  const p = job.parameters;
  let text = `${p.prompt}\nNegative prompt: ${p.negative_prompt || ''}\nSteps: ${p.steps}, Sampler: ${p.sampler_name || ''}, `
      + `CFG scale: ${p.cfg_scale}, Seed: ${p.seed + k}, Size: ${p.width}x${p.height}`;
  try {
    const info = await api('POST', '/sdapi/v1/png-info', { image: await blobDataUrl(await (await fetch(img.src)).blob()) });
    if (info.info) text = info.info;
  } catch { /* the job's parameters are shown */ }
  $('viewer-params').textContent = text;
  $('viewer').showModal();
}

function reuse(p, k) {
  $('prompt').value = p.prompt ?? '';
  $('negative').value = p.negative_prompt ?? '';
  if (p.steps) $('steps').value = p.steps;
  if (p.cfg_scale !== undefined) $('cfg').value = p.cfg_scale;
  if (p.width) $('width').value = p.width;
  if (p.height) $('height').value = p.height;
  if (p.seed !== undefined) $('seed').value = Number(p.seed) + (k || 0);
  if (p.sampler_name) $('sampler').value = p.sampler_name;
  const model = p.override_settings && p.override_settings.sd_model_checkpoint;
  if (model) $('model').value = model;
  saveSettings();
}

/** A1111's parameters dict (png-info) into the form. */
function reuseInfotext(params) {
  reuse({
    prompt: params.Prompt, negative_prompt: params['Negative prompt'], steps: params.Steps && Number(params.Steps),
    cfg_scale: params['CFG scale'] && Number(params['CFG scale']), seed: params.Seed && Number(params.Seed),
    width: params['Size-1'] && Number(params['Size-1']), height: params['Size-2'] && Number(params['Size-2']),
    sampler_name: params.Sampler,
  });
}

function blobDataUrl(blob) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(r.result);
    r.onerror = reject;
    r.readAsDataURL(blob);
  });
}

// ---- img2img and the mask ----
function loadInit(src) {
  const img = new Image();
  img.onload = () => {
    for (const c of [$('init'), $('mask')]) {
      c.width = img.naturalWidth;
      c.height = img.naturalHeight;
    }
    $('init').getContext('2d').drawImage(img, 0, 0);
    $('mask').getContext('2d').clearRect(0, 0, img.naturalWidth, img.naturalHeight);
    $('canvas-wrap').hidden = false;
    $('mask-tools').hidden = false;
  };
  img.src = src;
}

/** A dropped or pasted picture: a PNG with parameters fills the form; any picture becomes the init image. */
async function takeFile(file, asInit) {
  clearError();
  const url = await blobDataUrl(file);
  try {
    const info = await api('POST', '/sdapi/v1/png-info', { image: url });
    if (info.info) reuseInfotext(info.parameters);
  } catch (e) {
    showError(e);
    return;
  }
  if (asInit) loadInit(url);
}

function setUpMask() {
  const m = $('mask');
  let drawing = false;
  const at = (ev) => {
    const r = m.getBoundingClientRect();
    return [(ev.clientX - r.left) * m.width / r.width, (ev.clientY - r.top) * m.height / r.height];
  };
  const paint = (ev) => {
    if (!drawing) return;
    const g = m.getContext('2d');
    const [x, y] = at(ev);
    g.globalCompositeOperation = $('eraser').checked ? 'destination-out' : 'source-over';
    g.fillStyle = '#fff';
    g.beginPath();
    g.arc(x, y, Number($('brush').value) / 2, 0, Math.PI * 2);
    g.fill();
  };
  m.addEventListener('pointerdown', (ev) => { drawing = true; paint(ev); });
  m.addEventListener('pointermove', paint);
  for (const e of ['pointerup', 'pointerleave']) m.addEventListener(e, () => { drawing = false; });
  $('mask-clear').addEventListener('click', () => m.getContext('2d').clearRect(0, 0, m.width, m.height));
  $('mask-invert').addEventListener('click', () => {
    const g = m.getContext('2d');
    const d = g.getImageData(0, 0, m.width, m.height);
    for (let i = 0; i < d.data.length; i += 4) {
      const on = d.data[i + 3] > 0;
      d.data[i] = d.data[i + 1] = d.data[i + 2] = 255;
      d.data[i + 3] = on ? 0 : 255;
    }
    g.putImageData(d, 0, 0);
  });
  $('init-remove').addEventListener('click', () => {
    $('canvas-wrap').hidden = true;
    $('mask-tools').hidden = true;
    $('file').value = '';
  });
}

// ---- start ----
async function start() {
  const s = restoreSettings();
  try {
    const [models, samplers, loras, options, presets] = await Promise.all([api('GET', '/sdapi/v1/sd-models'),
      api('GET', '/sdapi/v1/samplers'), api('GET', '/sdapi/v1/loras'), api('GET', '/sdapi/v1/options'),
      api('GET', '/v1/presets')]);
    $('fast').addEventListener('change', () => {
      if (!$('fast').checked) return;
      $('sampler').value = presets.fast.sampler_name;
      $('steps').value = presets.fast.steps;
      $('cfg').value = presets.fast.cfg_scale;
    });
    fillSelect($('model'), models.map((m) => m.title), s.model || options.sd_model_checkpoint);
    fillSelect($('sampler'), samplers.map((x) => x.name), s.sampler || 'Euler a');
    fillSelect($('lora'), loras.map((l) => l.name));
    $('lora').parentElement.parentElement.hidden = loras.length === 0;
  } catch (e) {
    showError(e);
  }
  $('form').addEventListener('submit', (ev) => { ev.preventDefault(); generate(); });
  $('form').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); generate(); }
  });
  $('form').addEventListener('change', saveSettings);
  $('random-seed').addEventListener('click', () => { $('seed').value = -1; });
  $('last-seed').addEventListener('click', () => { if (lastSeed !== null) $('seed').value = lastSeed; });
  $('aspect').addEventListener('change', () => {
    const [a, b] = $('aspect').value.split(':').map(Number);
    if (a && b) $('height').value = Math.max(8, Math.round(Number($('width').value) * b / a / 8) * 8);
  });
  $('strength').addEventListener('input', () => { $('strength-value').textContent = $('strength').value; });
  $('lora-add').addEventListener('click', () => {
    if ($('lora').value) $('prompt').value += ` <lora:${$('lora').value}:${$('lora-weight').value}>`;
  });
  $('file').addEventListener('change', () => { if ($('file').files[0]) takeFile($('file').files[0], true); });
  document.addEventListener('dragover', (ev) => ev.preventDefault());
  document.addEventListener('drop', (ev) => {
    ev.preventDefault();
    const f = ev.dataTransfer.files[0];
    if (f) takeFile(f, ev.target.closest && ev.target.closest('#img2img') !== null);
  });
  document.addEventListener('paste', (ev) => {
    const f = [...(ev.clipboardData ? ev.clipboardData.files : [])][0];
    if (f) takeFile(f, true);
  });
  $('viewer-close').addEventListener('click', () => $('viewer').close());
  $('viewer-reuse').addEventListener('click', () => {
    reuse(viewing.job.parameters, viewing.k);
    $('viewer').close();
  });
  $('viewer-img2img').addEventListener('click', () => {
    loadInit(viewing.img.src);
    $('viewer').close();
  });
  setUpMask();
  loadGallery();
  const running = await api('GET', '/v1/jobs?limit=50').catch(() => ({ jobs: [] }));
  for (const j of running.jobs.reverse()) if (j.status === 'queued' || j.status === 'running') watch(j.id);
  document.body.dataset.ready = 'true';
}

start();
