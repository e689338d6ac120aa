// Package page: a click on the spectrogram plays from that moment; a line follows the player.
// Times: the spectrogram shows the package window; the MP3 joins the data runs back to back
// (gaps removed). data-runs lists [start in the window, start in the audio, duration] per run, in s.
// At phone width the page shows the small spectrogram, whose data area (data-axes-small) sits elsewhere.
"use strict";

(function () {
  const figure = document.querySelector("[data-spectrogram]");
  const audio = document.getElementById("player");
  if (!figure || !audio) {
    return;
  }
  const image = figure.querySelector("img");
  const playhead = figure.querySelector(".playhead");
  const runs = JSON.parse(figure.dataset.runs);
  const windowS = Number(figure.dataset.windowS);

  // where the data area of the picture shown sits: [left, bottom, width, height] as fractions of the picture
  function axes() {
    return JSON.parse(image.naturalWidth && image.currentSrc.includes("size=thumbnail") ? figure.dataset.axesSmall : figure.dataset.axes);
  }

  function audioTime(windowTime) {
    for (const [runWindowS, runAudioS, runS] of runs) {
      if (windowTime < runWindowS) {
        return runAudioS; // in a gap: play from the data after it
      }
      if (windowTime < runWindowS + runS) {
        return runAudioS + (windowTime - runWindowS);
      }
    }
    return null;
  }

  function windowTime(audioS) {
    for (const [runWindowS, runAudioS, runS] of runs) {
      if (audioS < runAudioS + runS) {
        return runWindowS + Math.max(0, audioS - runAudioS);
      }
    }
    return null;
  }

  image.addEventListener("click", (event) => {
    const box = image.getBoundingClientRect();
    const [left, , width] = axes();
    const fraction = ((event.clientX - box.left) / box.width - left) / width;
    if (fraction < 0 || fraction > 1) {
      return;
    }
    const target = audioTime(fraction * windowS);
    if (target === null) {
      return;
    }
    audio.currentTime = target;
    audio.play().catch(() => {}); // playing may be refused by the browser; the position is set anyway
  });

  function follow() {
    const t = windowTime(audio.currentTime);
    if (t === null) {
      playhead.hidden = true;
      return;
    }
    const [left, bottom, width, height] = axes();
    playhead.style.left = `${(left + width * t / windowS) * 100}%`;
    playhead.style.top = `${(1 - bottom - height) * 100}%`;
    playhead.style.height = `${height * 100}%`;
    playhead.hidden = false;
  }

  audio.addEventListener("timeupdate", follow);
  audio.addEventListener("seeked", follow);
  for (const element of figure.querySelectorAll(".js-only")) {
    element.hidden = false;
  }
})();
