// Small behaviours without inline scripts (the CSP allows only files from this site).
document.addEventListener("submit", (event) => {
  const button = event.submitter;
  const message = button && button.dataset.confirm;
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});

// "Copiar" buttons (linha digitável, Pix copia e cola): hidden until this script shows them, so without
// scripts the text is simply selectable. data-copy names the element whose text is copied;
// data-copy-digits copies only its digits (what bank apps expect of a linha digitável).
function copyWithSelection(source) {
  const range = document.createRange();
  range.selectNodeContents(source);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
  return document.execCommand && document.execCommand("copy");
}

document.querySelectorAll("[data-copy]").forEach((button) => {
  const source = document.getElementById(button.dataset.copy);
  if (!source) {
    return;
  }
  const status = document.querySelector(`[data-copy-status="${button.dataset.copy}"]`);
  const label = button.innerHTML;
  button.hidden = false;
  button.addEventListener("click", async () => {
    let text = source.textContent.trim();
    if ("copyDigits" in button.dataset) {
      text = text.replace(/\D/g, "");
    }
    let copied = false;
    try {
      await navigator.clipboard.writeText(text);
      copied = true;
    } catch (error) {
      copied = copyWithSelection(source);
    }
    if (copied) {
      button.textContent = button.dataset.copied;
      if (status) {
        status.textContent = button.dataset.copied;
      }
      window.setTimeout(() => {
        button.innerHTML = label;
        if (status) {
          status.textContent = "";
        }
      }, 2000);
    }
  });
});
