// @ts-check
// A self-annotation page whose view is still rendering: asks the server every second and reloads when
// the view is ready (or shows the failure and a retry link). Served as /app/annotation-poll.js.

const file = document.body.dataset.run ?? '';

const poll = async () => {
  const r = await fetch('/api/annotation?path=' + encodeURIComponent(file));
  const s = /** @type {{ state: string, error?: string }} */ (await r.json());
  if (s.state === 'ready') location.reload();
  else if (s.state === 'failed' || !r.ok) {
    const status = /** @type {HTMLElement} */ (document.getElementById('status'));
    status.textContent = 'failed: ' + (s.error || r.status);
    /** @type {HTMLElement} */ (document.getElementById('retry')).hidden = false;
  } else setTimeout(poll, 1000);
};
setTimeout(poll, 1000);
