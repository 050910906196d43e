// WHIP and WHEP (RFC 9725) as the pages speak them: the offer goes to the server once ICE
// gathering is done (the server does not take trickled candidates), the answer comes back
// with the resource's URL, and a DELETE on that URL stops.

/** Whether this browser can do WebRTC at all. */
export function webrtcAvailable() {
  return typeof window.RTCPeerConnection === 'function';
}

/**
 * The RTCConfiguration for the node's ICE servers (`IceConfig`: STUN, and TURN with this
 * caller's credentials); without them, host candidates: the node announces an address
 * browsers reach (webrtc_announce).
 */
export function rtcConfiguration(ice) {
  if (!ice) return {};
  return {
    iceServers: ice.ice_servers.map(({ urls, username, credential }) => ({ urls, username, credential })),
    iceTransportPolicy: ice.ice_transport_policy === 'relay' ? 'relay' : 'all',
  };
}

/** Waits until `pc` has gathered its candidates, or `ms` passed (host candidates suffice). */
function gathered(pc, ms = 1500) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      pc.removeEventListener('icegatheringstatechange', check);
      clearTimeout(timer);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === 'complete') done();
    };
    const timer = setTimeout(done, ms);
    pc.addEventListener('icegatheringstatechange', check);
  });
}

/**
 * Offers `pc`'s transceivers to `url`; resolves to the resource URL once the answer is set.
 * A refusal rejects with an Error carrying the server's `code` and `status`.
 */
export async function negotiate(pc, url, headers = {}) {
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const resp = await fetch(url, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/sdp' },
    body: pc.localDescription.sdp,
    credentials: 'same-origin',
  });
  if (resp.status !== 201) {
    const body = await resp.json().catch(() => ({}));
    const err = new Error(body.message ?? `the server answered ${resp.status}`);
    err.code = body.error;
    err.status = resp.status;
    throw err;
  }
  const location = new URL(resp.headers.get('location'), resp.url).toString();
  try {
    await pc.setRemoteDescription({ type: 'answer', sdp: await resp.text() });
  } catch (e) {
    hangUp(location, headers); // The server's peer would wait for a browser that never comes.
    throw e;
  }
  return location;
}

/** Stops the resource at `location` (best effort: the server also ends it by itself). */
export function hangUp(location, headers = {}) {
  if (!location) return;
  fetch(location, { method: 'DELETE', headers, credentials: 'same-origin', keepalive: true }).catch(() => {});
}
