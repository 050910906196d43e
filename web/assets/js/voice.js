// Recording a short spoken question in the browser, as the server takes it: the microphone
// through WebAudio, downsampled to 16 kHz mono and encoded as a 16-bit PCM WAV. No library.

/** The sample rate the server's speech model takes. */
export const SAMPLE_RATE = 16000;

/** Whether this browser can record here (the microphone needs a secure context). */
export function canRecord() {
  return Boolean(window.isSecureContext && navigator.mediaDevices?.getUserMedia
    && (window.AudioContext || window.webkitAudioContext));
}

/**
 * `input` (Float32 samples at `fromRate`) at `toRate`: each output sample is the mean of the
 * input samples it covers, which filters out what the lower rate cannot carry well enough
 * for speech.
 */
export function downsample(input, fromRate, toRate = SAMPLE_RATE) {
  if (fromRate === toRate) return Float32Array.from(input);
  const ratio = fromRate / toRate;
  const length = Math.floor(input.length / ratio);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i += 1) {
    const start = Math.floor(i * ratio);
    const end = Math.min(input.length, Math.max(start + 1, Math.floor((i + 1) * ratio)));
    let sum = 0;
    for (let j = start; j < end; j += 1) sum += input[j];
    out[i] = sum / (end - start);
  }
  return out;
}

/** Float samples (−1 to 1) as a 16-bit PCM mono WAV file at `rate`. */
export function encodeWav(samples, rate = SAMPLE_RATE) {
  const buffer = new ArrayBuffer(44 + samples.length * 2);
  const view = new DataView(buffer);
  const text = (at, s) => { for (let i = 0; i < s.length; i += 1) view.setUint8(at + i, s.charCodeAt(i)); };
  text(0, 'RIFF');
  view.setUint32(4, 36 + samples.length * 2, true);
  text(8, 'WAVE');
  text(12, 'fmt ');
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, rate, true);
  view.setUint32(28, rate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  text(36, 'data');
  view.setUint32(40, samples.length * 2, true);
  for (let i = 0; i < samples.length; i += 1) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    view.setInt16(44 + i * 2, s < 0 ? s * 0x8000 : s * 0x7fff, true);
  }
  return new Blob([buffer], { type: 'audio/wav' });
}

/**
 * Starts recording from the microphone. Resolves with a recorder whose `stop()` resolves
 * with the WAV (a Blob); it also stops by itself after `maxSeconds`, calling `onAutoStop`.
 */
export async function startRecording({ maxSeconds = 8, onAutoStop } = {}) {
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true },
  });
  const Context = window.AudioContext || window.webkitAudioContext;
  const ctx = new Context();
  const source = ctx.createMediaStreamSource(stream);
  // ScriptProcessorNode needs no separate worklet module, and a question is short.
  const processor = ctx.createScriptProcessor(4096, 1, 1);
  const chunks = [];
  processor.onaudioprocess = (e) => chunks.push(Float32Array.from(e.inputBuffer.getChannelData(0)));
  source.connect(processor);
  processor.connect(ctx.destination);
  let done = null;
  let timer = null;
  const stop = async () => {
    if (done) return done;
    done = (async () => {
      clearTimeout(timer);
      processor.disconnect();
      source.disconnect();
      for (const track of stream.getTracks()) track.stop();
      const rate = ctx.sampleRate;
      await ctx.close();
      const total = chunks.reduce((n, c) => n + c.length, 0);
      const all = new Float32Array(total);
      let at = 0;
      for (const c of chunks) {
        all.set(c, at);
        at += c.length;
      }
      return encodeWav(downsample(all, rate));
    })();
    return done;
  };
  timer = setTimeout(() => onAutoStop?.(), maxSeconds * 1000);
  return { stop };
}
