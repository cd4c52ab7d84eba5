"""A character-level LSTM that learns nursery rhymes, then writes its own.

The text is made here (a few KB of rhymes, repeated), so nothing is downloaded. The model reads
characters as embeddings, runs them through an `nn.LSTM`, and predicts the next character at
every position; training minimizes the cross-entropy of those predictions. Sampling feeds its
own output back in, one character at a time.

Run it:  python examples/char_lstm.py
"""

from __future__ import annotations

import ember as torch
from ember import nn

RHYMES = [
    "twinkle, twinkle, little star,\nhow i wonder what you are!\n",
    "jack and jill went up the hill\nto fetch a pail of water.\n",
    "humpty dumpty sat on a wall,\nhumpty dumpty had a great fall.\n",
    "baa, baa, black sheep,\nhave you any wool?\nyes sir, yes sir,\nthree bags full.\n",
    "hickory dickory dock,\nthe mouse ran up the clock.\n",
    "mary had a little lamb,\nits fleece was white as snow.\n",
]


def make_text(repeats=8):
    """The rhymes, each verse followed by a blank line, `repeats` times (about 2.7 KB)."""
    return "\n".join(RHYMES) * repeats


class CharLSTM(nn.Module):
    """Embedding -> LSTM -> Linear: next-character logits at every position."""

    def __init__(self, vocab_size, embed_dim=24, hidden_size=128):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, codes, state=None):
        out, state = self.lstm(self.embed(codes), state)
        return self.head(out), state


def sample(model, prompt, length, stoi, itos, temperature=0.5, generator=None):
    """Continue `prompt` by `length` characters, sampling from the model's predictions."""
    model.eval()
    with torch.no_grad():
        codes = torch.tensor([[stoi[ch] for ch in prompt]])
        logits, state = model(codes)
        out = []
        for _ in range(length):
            probs = torch.softmax(logits[0, -1] / temperature, dim=-1)
            code = torch.multinomial(probs, 1, generator=generator)
            out.append(itos[code.item()])
            logits, state = model(code.view(1, 1), state)
    model.train()
    return prompt + "".join(out)


def main(steps=250, seq_len=32, batch_size=32, lr=1e-2, seed=0, verbose=True):
    """Train on random windows of the text; returns (losses, a sampled continuation)."""
    torch.manual_seed(seed)
    text = make_text()
    chars = sorted(set(text))
    stoi = {ch: i for i, ch in enumerate(chars)}
    data = torch.tensor([stoi[ch] for ch in text])

    model = CharLSTM(len(chars))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for step in range(steps):
        # a batch of windows; the target is the window shifted by one character
        starts = torch.randint(0, len(data) - seq_len - 1, (batch_size,), generator=gen)
        offsets = torch.arange(seq_len + 1)
        windows = data[starts[:, None] + offsets]
        inputs, targets = windows[:, :-1], windows[:, 1:]
        logits, _ = model(inputs)
        loss = loss_fn(logits.reshape(-1, len(chars)), targets.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # tames exploding LSTM gradients
        optimizer.step()
        losses.append(loss.item())
        if verbose and (step % max(1, steps // 5) == 0 or step == steps - 1):
            print(f"step {step:4d}  loss {loss.item():.3f}")
    print(f"{len(text)} characters of text, {len(chars)} distinct")
    text_out = sample(model, "twinkle", 120, stoi, chars, generator=gen)
    print("sample:\n" + text_out)
    return losses, text_out


if __name__ == "__main__":
    main()
