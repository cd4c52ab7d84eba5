"""Recurrent layers as functions: lstm, gru, rnn_tanh, rnn_relu and their one-step cells.

The names and signatures are PyTorch's top-level ones (torch.lstm, torch.lstm_cell, ...), which
nn.LSTM, nn.GRU, nn.RNN and the cells call. A primitive runs one layer over a whole sequence in
one direction (speed: the time loop is unavoidable, so each step is one small matrix product
and a few array calls). LSTM's backward is a fused backpropagation-through-time primitive too,
whose own backward differentiates its twin written in ember ops (vjp_by_recomputation). GRU's
and RNN's backward loop over time in ember ops, with a fused cell-backward primitive (GRU) or
tanh's and relu's fused backward (RNN). Gradients of gradients work throughout.
"""

from __future__ import annotations

from ember._backend import array_module
from ember._tensor import Tensor
from ember.autograd.engine import grad as autograd_grad
from ember.autograd.grad_mode import enable_grad, is_grad_enabled
from ember.ops._primitive import Primitive
from ember.ops._table import S, register
from ember.ops.join import cat, split, stack, unbind
from ember.ops.nn_extra import dropout as _dropout
from ember.ops.pointwise import ReluGrad, TanhGrad, sigmoid, tanh


def vjp_by_recomputation(ctx, fn, inputs, cotangents, **kwargs):
    """The vector-Jacobian product of `fn` (written in ember ops) at `inputs`: the backward of a
    fused primitive whose forward is `fn`'s fast twin. `fn` runs again on stand-ins for the
    inputs, and autograd differentiates that; when the outer backward records a graph
    (create_graph), the stand-ins are views of the real inputs, so the result stays
    differentiable. Returns one gradient per input (None where not needed)."""
    create_graph = is_grad_enabled()
    needs = ctx.needs_input_grad
    with enable_grad():
        proxies = []
        for t, need in zip(inputs, needs):
            if t is None:
                proxies.append(None)
            elif create_graph and t.requires_grad:
                proxies.append(t.view_as(t))  # partial derivatives: stop at this view
            else:
                proxies.append(t.detach().requires_grad_(need))
        outs = fn(*proxies, **kwargs)
        pairs = [(o, g) for o, g in zip(outs, cotangents) if g is not None and o.requires_grad]
        wanted = [p for p, need in zip(proxies, needs) if need]
        if not pairs or not wanted:
            return (None,) * len(inputs)
        found = autograd_grad(
            [o for o, _ in pairs],
            wanted,
            [g for _, g in pairs],
            allow_unused=True,
            create_graph=create_graph,
        )
    found = iter(found)
    return tuple(next(found) if need else None for need in needs)


# --- helpers on arrays (primitive forwards) ---
def _order(steps, reverse):
    return range(steps - 1, -1, -1) if reverse else range(steps)


def _sigmoid_(xp, a):
    """a <- 1 / (1 + exp(-a)), in place (exp overflows to inf for very negative a: the result
    is then 0, as sigmoid rounds to there anyway)."""
    xp.negative(a, out=a)
    xp.exp(a, out=a)
    a += 1
    xp.reciprocal(a, out=a)


# --- helpers on tensors (backward passes) ---
def _previous(h0, hs, reverse):
    """The state each step starts from: h0 and then the outputs, shifted by one step."""
    if hs.shape[0] == 1:
        return h0.unsqueeze(0)
    if reverse:
        return cat([hs[1:], h0.unsqueeze(0)], 0)
    return cat([h0.unsqueeze(0), hs[:-1]], 0)


def _steps(a):
    """The (B, K) slices of a (T, B, K) tensor, as one split (no op per step)."""
    steps, batch = a.shape[0], a.shape[1]
    return split(a.reshape(steps * batch, -1), batch, 0)


def _time_mm(a, w):
    """(T, B, K) @ w^T for w of shape (G, K), as one matrix product."""
    steps, batch, k = a.shape
    return a.reshape(steps * batch, k).mm(w.t()).reshape(steps, batch, w.shape[0])


def _weight_grad(d_pre, h_prev):
    """sum over steps and batch of d_pre^T h_prev: the recurrent weight's gradient."""
    return d_pre.reshape(-1, d_pre.shape[-1]).t().mm(h_prev.reshape(-1, h_prev.shape[-1]))


def _plus(a, b):
    if a is None:
        return b
    return a if b is None else a + b


def _no_materialize(ctx):
    if hasattr(ctx, "set_materialize_grads"):  # absent on the no-grad path
        ctx.set_materialize_grads(False)


# --- op-table calls: the same code for lib=ember and lib=torch ---
def _sequence_call(name, cell_state=False):
    def call(lib, x, h0, *rest, has_biases=True, num_layers=1, bidirectional=False, **kw):
        if cell_state:
            hx, params = (h0, rest[0]), rest[1:]
        else:
            hx, params = h0, rest
        batch_first = kw.get("batch_first", False)
        fn = getattr(lib, name)
        return fn(x, hx, params, has_biases, num_layers, 0.0, False, bidirectional, batch_first)

    return call


def _cell_call(name, cell_state=False):
    def call(lib, x, h, *rest):
        if cell_state:
            return getattr(lib, name)(x, (h, rest[0]), *rest[1:])
        return getattr(lib, name)(x, h, *rest)

    return call


def _grads_call(name, cell_state=False):
    """Gradients (with create_graph) of a one-layer sequence: tests the backward primitives."""
    forward = _sequence_call(name, cell_state)

    def call(lib, *tensors):
        n_out = 3 if cell_state else 2
        inputs, cotangents = tensors[:-n_out], tensors[-n_out:]
        outs = forward(lib, *inputs)
        return lib.autograd.grad(outs, inputs, cotangents, create_graph=True)

    return call


def _sequence_samples(chunks, cell_state=False, steps=3, batch=2, features=2, hidden=2):
    """Samples for lstm/gru/rnn: one layer, no bias, bidirectional, two layers, batch_first."""
    gates = chunks * hidden

    def sample(layers=1, directions=1, bias=True, batch_first=False):
        x = (batch, steps, features) if batch_first else (steps, batch, features)
        state = (layers * directions, batch, hidden)
        shapes = [x, state] + ([state] if cell_state else [])
        for layer in range(layers):
            size = features if layer == 0 else hidden * directions
            for _ in range(directions):
                shapes += [(gates, size), (gates, hidden)]
                shapes += [(gates,), (gates,)] if bias else []
        kw = dict(has_biases=bias, num_layers=layers, bidirectional=directions == 2)
        return S(*shapes, **kw, **({"batch_first": True} if batch_first else {}))

    return (
        sample(),
        sample(bias=False),
        sample(directions=2),
        sample(layers=2, batch_first=True),
    )


def _cell_samples(chunks, cell_state=False, batch=2, features=3, hidden=2):
    state = (batch, hidden)
    gates = chunks * hidden
    shapes = [(batch, features), state] + ([state] if cell_state else [])
    weights = [(gates, features), (gates, hidden)]
    return (S(*shapes, *weights, (gates,), (gates,)), S(*shapes, *weights))


def _grads_samples(chunks, cell_state=False, steps=2, batch=2, features=2, hidden=2):
    gates = chunks * hidden
    state = (1, batch, hidden)
    shapes = [(steps, batch, features), state] + ([state] if cell_state else [])
    shapes += [(gates, features), (gates, hidden), (gates,), (gates,)]
    shapes += [(steps, batch, hidden), state] + ([state] if cell_state else [])  # cotangents
    return (S(*shapes),)


# --- LSTM ---
def _gate_constants(xp, n, dtype):
    """sigmoid(a) = 0.5 + 0.5 * tanh(a / 2): with these, all four gates take one tanh call
    (i, f, o are sigmoids, g a tanh): act = tanh(pre * scale) * scale + shift."""
    scale = xp.full(4 * n, 0.5, dtype=dtype)
    scale[2 * n : 3 * n] = 1
    shift = xp.full(4 * n, 0.5, dtype=dtype)
    shift[2 * n : 3 * n] = 0
    return scale, shift


@register("lstm", _sequence_call("lstm", True), _sequence_samples(4, True))
@register("lstm_cell", _cell_call("lstm_cell", True), _cell_samples(4, True))
class LstmLayer(Primitive):
    """One LSTM layer over a sequence x (T, B, I), in one direction. Returns every step's h and
    c (T, B, H), and the activated gates i, f, g, o (T, B, 4H) that backward needs. A
    primitive for speed: the input projection of all steps is one product written straight
    into the gates' buffer, then each step is one small product and a few array calls."""

    @staticmethod
    def forward(ctx, x, w_ih, w_hh, b_ih, b_hh, h0, c0, reverse=False):
        xp = array_module(x)
        steps, batch, features = x.shape
        size = w_hh.shape[0]
        n = size // 4
        acts = xp.empty((steps, batch, size), dtype=x.dtype)
        hs = xp.empty((steps, batch, n), dtype=x.dtype)
        cs = xp.empty((steps, batch, n), dtype=x.dtype)
        scale, shift = _gate_constants(xp, n, x.dtype)
        # the sigmoid gates' halving folded into the weights and biases (exact: a power of 2)
        column_scale = scale[:, None]
        xp.matmul(
            x.reshape(steps * batch, features), (w_ih * column_scale).T, out=acts.reshape(-1, size)
        )
        biases = [b for b in (b_ih, b_hh) if b is not None]
        if biases:
            acts += (biases[0] if len(biases) == 1 else biases[0] + biases[1]) * scale
        w = xp.ascontiguousarray((w_hh * column_scale).T)
        # full-size rows: a same-shape multiply is twice as fast as a broadcast one
        scale = xp.ascontiguousarray(xp.broadcast_to(scale, (batch, size)))
        shift = xp.ascontiguousarray(xp.broadcast_to(shift, (batch, size)))
        recurrent_part = xp.empty((batch, size), dtype=x.dtype)
        input_part = xp.empty((batch, n), dtype=x.dtype)
        h, c = h0, c0
        for t in _order(steps, reverse):
            act = acts[t]
            xp.matmul(h, w, out=recurrent_part)
            act += recurrent_part
            xp.tanh(act, out=act)
            act *= scale
            act += shift
            c_t, h_t = cs[t], hs[t]
            xp.multiply(act[:, n : 2 * n], c, out=c_t)
            xp.multiply(act[:, :n], act[:, 2 * n : 3 * n], out=input_part)
            c_t += input_part
            xp.tanh(c_t, out=h_t)
            h_t *= act[:, 3 * n :]
            h, c = h_t, c_t
        ctx.reverse = reverse
        _no_materialize(ctx)
        ctx.save_for_backward(x, w_ih, w_hh, h0, c0, hs, cs, acts)
        return hs, cs, acts

    @staticmethod
    def backward(ctx, grad_hs, grad_cs, grad_acts):
        x, w_ih, w_hh, h0, c0, hs, cs, acts = ctx.saved_tensors
        # the gates' gradient (only in double backward) joins at their pre-activations
        grad_pre = _lstm_activation_grad(grad_acts, acts) if grad_acts is not None else None
        if grad_hs is None and grad_cs is None and grad_pre is None:
            return (None,) * 7
        d_pre, d_w_hh, d_h0, d_c0 = LstmLayerBackward.apply(
            w_hh, h0, c0, hs, cs, acts, grad_hs, grad_cs, grad_pre, reverse=ctx.reverse
        )
        needs = ctx.needs_input_grad
        flat = d_pre.reshape(-1, d_pre.shape[-1])
        d_x = flat.mm(w_ih).reshape(x.shape) if needs[0] else None
        d_w_ih = flat.t().mm(x.reshape(flat.shape[0], -1)) if needs[1] else None
        d_b = flat.sum(0) if needs[3] or needs[4] else None
        return (
            d_x,
            d_w_ih,
            d_w_hh if needs[2] else None,
            d_b if needs[3] else None,
            d_b if needs[4] else None,
            d_h0 if needs[5] else None,
            d_c0 if needs[6] else None,
        )


def _lstm_activation_grad(grad_act, act):
    """grad_act times the derivative of the gate activations (sigmoid, sigmoid, tanh, sigmoid),
    written in terms of their outputs."""
    n = act.shape[-1] // 4
    sig_if, g, o = split(act, [2 * n, n, n], -1)
    return grad_act * cat([sig_if * (1 - sig_if), 1 - g * g, o * (1 - o)], -1)


@register("lstm_backward", _grads_call("lstm", True), _grads_samples(4, True))
class LstmLayerBackward(Primitive):
    """Backpropagation through time of one LSTM layer, fused: one array loop, no op per step
    (speed). Returns the gradients of the gate pre-activations (T, B, 4H), w_hh, h0 and c0.
    Its own backward differentiates the same computation written in ember ops (_lstm_bptt)."""

    @staticmethod
    def forward(ctx, w_hh, h0, c0, hs, cs, acts, grad_hs, grad_cs, grad_pre, reverse=False):
        xp = array_module(acts)
        steps, batch, size = acts.shape
        n = size // 4
        d_pre = xp.empty_like(acts)
        dh = xp.zeros((batch, n), dtype=acts.dtype)
        dc = xp.zeros((batch, n), dtype=acts.dtype)
        d_c = xp.empty_like(dh)
        # what does not depend on the incoming gradients, for all steps at once (a few large
        # array calls instead of several small ones per step):
        tanh_cs = xp.tanh(cs)
        # dh's path into c: o * (1 - tanh(c)^2) = o - h * tanh(c)
        through_c = acts[:, :, 3 * n :] - hs * tanh_cs
        # the activations' derivatives: s - s^2 for the sigmoids, 1 - g^2 for tanh
        squares = acts * acts
        derivative = acts - squares
        xp.subtract(1, squares[:, :, 2 * n : 3 * n], out=derivative[:, :, 2 * n : 3 * n])
        del squares
        before = 1 if reverse else -1  # where the previous step's c sits
        for k, t in enumerate(_order(steps, not reverse)):
            if grad_hs is not None:
                dh += grad_hs[t]
            if grad_cs is not None:
                dc += grad_cs[t]
            act, d = acts[t], d_pre[t]
            c_prev = c0 if k == steps - 1 else cs[t + before]
            xp.multiply(dh, through_c[t], out=d_c)
            d_c += dc
            xp.multiply(d_c, act[:, 2 * n : 3 * n], out=d[:, :n])  # through i
            xp.multiply(d_c, c_prev, out=d[:, n : 2 * n])  # through f
            xp.multiply(d_c, act[:, :n], out=d[:, 2 * n : 3 * n])  # through g
            xp.multiply(dh, tanh_cs[t], out=d[:, 3 * n :])  # through o
            d *= derivative[t]
            if grad_pre is not None:
                d += grad_pre[t]
            xp.multiply(d_c, act[:, n : 2 * n], out=dc)
            xp.matmul(d, w_hh, out=dh)
        flat = d_pre.reshape(steps * batch, size)
        h_flat = hs.reshape(steps * batch, n)
        if steps == 1:
            d_w_hh = flat.T @ h0
        elif reverse:  # step t starts from hs[t + 1], the last one from h0
            d_w_hh = flat[:-batch].T @ h_flat[batch:] + d_pre[-1].T @ h0
        else:
            d_w_hh = flat[batch:].T @ h_flat[:-batch] + d_pre[0].T @ h0
        ctx.reverse = reverse
        ctx.save_for_backward(w_hh, h0, c0, hs, cs, acts, grad_hs, grad_cs, grad_pre)
        return d_pre, d_w_hh, dh, dc

    @staticmethod
    def backward(ctx, *grads):
        return vjp_by_recomputation(ctx, _lstm_bptt, ctx.saved_tensors, grads, reverse=ctx.reverse)


def _lstm_bptt(w_hh, h0, c0, hs, cs, acts, grad_hs, grad_cs, grad_pre, reverse):
    """LstmLayerBackward's forward in ember ops (differentiable to any order)."""
    steps, batch, size = acts.shape
    n = size // 4
    act, c = _steps(acts), _steps(cs)
    grad_h = _steps(grad_hs) if grad_hs is not None else (None,) * steps
    grad_c = _steps(grad_cs) if grad_cs is not None else (None,) * steps
    extra = _steps(grad_pre) if grad_pre is not None else (None,) * steps
    d_gates = [None] * steps
    dh = dc = h0.new_zeros(h0.shape)
    before = 1 if reverse else -1
    for k, t in enumerate(_order(steps, not reverse)):
        dh, dc = _plus(grad_h[t], dh), _plus(grad_c[t], dc)
        c_prev = c0 if k == steps - 1 else c[t + before]
        i, f, g, o = split(act[t], n, -1)
        tanh_c = tanh(c[t])
        d_c = dc + dh * o * (1 - tanh_c * tanh_c)
        d = cat(
            [
                d_c * g * i * (1 - i),
                d_c * c_prev * f * (1 - f),
                d_c * i * (1 - g * g),
                dh * tanh_c * o * (1 - o),
            ],
            -1,
        )
        d_gates[t] = _plus(d, extra[t])
        dc = d_c * f
        dh = d_gates[t].mm(w_hh)
    d_pre = stack(d_gates)
    d_w_hh = _weight_grad(d_pre, _previous(h0, hs, reverse))
    return d_pre, d_w_hh, dh, dc


# --- GRU ---
@register("gru", _sequence_call("gru"), _sequence_samples(3))
@register("gru_cell", _cell_call("gru_cell"), _cell_samples(3))
class GruLayer(Primitive):
    """One GRU layer over a sequence: x (T, B, 3H) is the input projection plus b_ih; b_hh
    stays inside (n uses r * (W_hn h + b_hn)). Returns every step's h, (T, B, H). A primitive
    for speed (see the module doc)."""

    @staticmethod
    def forward(ctx, x, w_hh, b_hh, h0, reverse=False):
        xp = array_module(x)
        steps, batch, size = x.shape
        n = size // 3
        hs = xp.empty((steps, batch, n), dtype=x.dtype)
        w = xp.ascontiguousarray(w_hh.T)
        gh = xp.empty((batch, size), dtype=x.dtype)
        h = h0
        for t in _order(steps, reverse):
            xp.matmul(h, w, out=gh)
            if b_hh is not None:
                gh += b_hh
            x_t = x[t]
            rz = x_t[:, : 2 * n] + gh[:, : 2 * n]
            _sigmoid_(xp, rz)
            new = gh[:, 2 * n :] * rz[:, :n]
            new += x_t[:, 2 * n :]
            xp.tanh(new, out=new)
            h_t = hs[t]  # h' = n + z * (h - n)
            xp.subtract(h, new, out=h_t)
            h_t *= rz[:, n:]
            h_t += new
            h = h_t
        ctx.reverse = reverse
        ctx.save_for_backward(x, w_hh, b_hh, h0, hs)
        return hs

    @staticmethod
    def backward(ctx, grad_hs):
        x, w_hh, b_hh, h0, hs = ctx.saved_tensors
        needs = ctx.needs_input_grad
        steps, n = x.shape[0], hs.shape[2]
        h_prev = _previous(h0, hs, ctx.reverse)
        gh = _time_mm(h_prev, w_hh)
        if b_hh is not None:
            gh = gh + b_hh
        x_rz, x_n = split(x, [2 * n, n], -1)
        h_rz, h_n = split(gh, [2 * n, n], -1)
        r, z = split(sigmoid(x_rz + h_rz), n, -1)
        new = tanh(x_n + r * h_n)
        rs, zs, news, h_ns, h_prevs = (_steps(a) for a in (r, z, new, h_n, h_prev))
        grad_h = _steps(grad_hs)
        d_x, d_gh = [None] * steps, [None] * steps
        dh = None
        order = _order(steps, not ctx.reverse)
        for k, t in enumerate(order):
            dh = _plus(grad_h[t], dh)
            d_x[t], d_gh[t], dh_direct = GruCellBackward.apply(
                rs[t], zs[t], news[t], h_ns[t], h_prevs[t], dh
            )
            if k < steps - 1 or needs[3]:
                dh = dh_direct + d_gh[t].mm(w_hh)
            else:
                dh = None
        d_gh = stack(d_gh)
        d_w = _weight_grad(d_gh, h_prev) if needs[1] else None
        d_b = d_gh.sum((0, 1)) if needs[2] else None
        return stack(d_x), d_w, d_b, dh


@register("gru_cell_backward", _grads_call("gru"), _grads_samples(3))
class GruCellBackward(Primitive):
    """One step of GRU backpropagation through time, fused (speed): from r, z, n, W_hn h + b_hn,
    h_{t-1} and the incoming dh, the gradients of the input-side pre-activations (B, 3H), of
    the hidden-side ones (B, 3H) and the direct part of dh_{t-1} (dh * z)."""

    @staticmethod
    def forward(ctx, r, z, new, h_n, h_prev, dh):
        xp = array_module(r)
        n = r.shape[-1]
        d_new = dh * (1 - z)
        d_new *= 1 - new * new
        d_z = h_prev - new
        d_z *= dh
        d_z *= z * (1 - z)
        d_r = d_new * h_n
        d_r *= r * (1 - r)
        d_x = xp.concatenate([d_r, d_z, d_new], -1)
        d_gh = d_x.copy()
        d_gh[:, 2 * n :] *= r
        ctx.save_for_backward(r, z, new, h_n, h_prev, dh)
        return d_x, d_gh, dh * z

    @staticmethod
    def backward(ctx, grad_x, grad_gh, grad_h_prev):
        r, z, new, h_n, h_prev, dh = ctx.saved_tensors
        n = r.shape[-1]
        gxr, gxz, gxn = split(grad_x, n, -1)
        ghr, ghz, ghn = split(grad_gh, n, -1)
        g_r, g_z = gxr + ghr, gxz + ghz
        sr, sz, tn = r * (1 - r), z * (1 - z), 1 - new * new
        d_new = dh * (1 - z) * tn  # the forward's d(pre-activation of n)
        # the gradient reaching d_new from every output it feeds
        gd = g_r * h_n * sr + gxn + ghn * r
        d_r = d_new * (g_r * h_n * (1 - 2 * r) + ghn)
        d_z = dh * (g_z * (h_prev - new) * (1 - 2 * z) - gd * tn + grad_h_prev)
        d_n = -dh * (g_z * sz + 2 * gd * (1 - z) * new)
        d_h_n = g_r * d_new * sr
        d_h_prev = g_z * dh * sz
        d_dh = g_z * (h_prev - new) * sz + gd * (1 - z) * tn + grad_h_prev * z
        return d_r, d_z, d_n, d_h_n, d_h_prev, d_dh


# --- Elman RNN ---
@register("rnn_tanh", _sequence_call("rnn_tanh"), _sequence_samples(1))
@register("rnn_relu", _sequence_call("rnn_relu"), _sequence_samples(1)[:2], avoid=(0.0,))
@register("rnn_tanh_cell", _cell_call("rnn_tanh_cell"), _cell_samples(1))
@register("rnn_relu_cell", _cell_call("rnn_relu_cell"), _cell_samples(1)[:1], avoid=(0.0,))
class RnnLayer(Primitive):
    """One Elman RNN layer over a sequence: x (T, B, H) is the input projection plus both
    biases; returns every step's h, (T, B, H). A primitive for speed (see the module doc)."""

    @staticmethod
    def forward(ctx, x, w_hh, h0, nonlinearity="tanh", reverse=False):
        xp = array_module(x)
        hs = xp.empty_like(x)
        w = xp.ascontiguousarray(w_hh.T)
        pre = xp.empty(x.shape[1:], dtype=x.dtype)
        h = h0
        for t in _order(x.shape[0], reverse):
            xp.matmul(h, w, out=pre)
            pre += x[t]
            if nonlinearity == "tanh":
                xp.tanh(pre, out=hs[t])
            else:
                xp.maximum(pre, 0, out=hs[t])
            h = hs[t]
        ctx.reverse, ctx.nonlinearity = reverse, nonlinearity
        ctx.save_for_backward(w_hh, h0, hs)
        return hs

    @staticmethod
    def backward(ctx, grad_hs):
        w_hh, h0, hs = ctx.saved_tensors
        needs = ctx.needs_input_grad
        steps = hs.shape[0]
        activation_grad = TanhGrad if ctx.nonlinearity == "tanh" else ReluGrad
        outs, grad_h = _steps(hs), _steps(grad_hs)
        d_pre = [None] * steps
        dh = None
        for k, t in enumerate(_order(steps, not ctx.reverse)):
            d_pre[t] = activation_grad.apply(outs[t], _plus(grad_h[t], dh))
            dh = d_pre[t].mm(w_hh) if k < steps - 1 or needs[2] else None
        d_x = stack(d_pre)
        d_w = _weight_grad(d_x, _previous(h0, hs, ctx.reverse)) if needs[1] else None
        return d_x, d_w, dh


# --- the public functions ---
def _check_same_dtype(op, tensors):
    dtypes = {t.dtype for t in tensors if t is not None}
    if len(dtypes) > 1:
        names = ", ".join(sorted(str(d) for d in dtypes))
        raise RuntimeError(f"{op}(): expected all tensors to have the same dtype, got {names}")


def _project(x, w_ih, bias):
    """x @ W_ih^T (+ bias) for every step at once: (T, B, I) -> (T, B, G)."""
    out = _time_mm(x, w_ih)
    return out if bias is None else out + bias


def _sum_bias(b_ih, b_hh):
    if b_ih is None:
        return b_hh
    return b_ih if b_hh is None else b_ih + b_hh


def _handed_out(t):
    """A layer's result as the caller gets it: a copy, so that changing it in place (which
    PyTorch allows) cannot reach the saved result the layer's backward reads."""
    return t.clone()


def _run_layers(op, input, hx, params, options, layer_fn):
    """The stacking shared by lstm/gru/rnn: layers, directions, dropout between layers."""
    has_biases, num_layers, dropout, train, bidirectional, batch_first = options
    if not isinstance(input, Tensor) or input.dim() != 3:
        shape = list(input.shape) if isinstance(input, Tensor) else type(input).__name__
        raise RuntimeError(f"{op}(): expected a 3-D input, got {shape}")
    if input.shape[1 if batch_first else 0] == 0:
        raise RuntimeError("Expected sequence length to be larger than 0 in RNN")
    directions = 2 if bidirectional else 1
    per_layer = 4 if has_biases else 2
    params = list(params)
    if len(params) != num_layers * directions * per_layer:
        raise RuntimeError(
            f"{op}(): expected {num_layers * directions * per_layer} parameters for "
            f"num_layers={num_layers}, bidirectional={bidirectional}, has_biases={has_biases}, "
            f"got {len(params)}"
        )
    states = [unbind(h) for h in hx]
    _check_same_dtype(op, [input, *params, *hx])
    layer_input = input.transpose(0, 1) if batch_first else input
    finals = [[] for _ in hx]
    for layer in range(num_layers):
        outputs = []
        for direction in range(directions):
            k = layer * directions + direction
            weights = params[k * per_layer : (k + 1) * per_layer]
            w_ih, w_hh = weights[0], weights[1]
            b_ih, b_hh = (weights[2], weights[3]) if has_biases else (None, None)
            start = [s[k] for s in states]
            results = layer_fn(layer_input, w_ih, w_hh, b_ih, b_hh, start, direction == 1)
            outputs.append(results[0])
            last = 0 if direction == 1 else -1
            for final, seq in zip(finals, results):
                final.append(seq[last])
        layer_input = outputs[0] if directions == 1 else cat(outputs, -1)
        if dropout and train and layer < num_layers - 1:
            layer_input = _dropout(layer_input, dropout, True)
    output = layer_input.transpose(0, 1) if batch_first else layer_input
    if directions == 1:  # the last layer's own result, which its backward reads
        output = _handed_out(output)
    return (output, *(stack(final) for final in finals))


def _lstm_layer(x, w_ih, w_hh, b_ih, b_hh, start, reverse):
    h0, c0 = start
    hs, cs, _ = LstmLayer.apply(x, w_ih, w_hh, b_ih, b_hh, h0, c0, reverse=reverse)
    return hs, cs


def _gru_layer(x, w_ih, w_hh, b_ih, b_hh, start, reverse):
    hs = GruLayer.apply(_project(x, w_ih, b_ih), w_hh, b_hh, start[0], reverse=reverse)
    return (hs,)


def _rnn_layer(nonlinearity):
    def layer(x, w_ih, w_hh, b_ih, b_hh, start, reverse):
        projected = _project(x, w_ih, _sum_bias(b_ih, b_hh))
        return (RnnLayer.apply(projected, w_hh, start[0], nonlinearity, reverse=reverse),)

    return layer


def lstm(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
    """Same as torch.lstm (the function nn.LSTM calls): (output, h_n, c_n).

    params: w_ih, w_hh[, b_ih, b_hh] per layer and direction; hx = (h0, c0), each
    (num_layers * directions, B, H). PackedSequence input and proj_size are not supported.
    """
    if len(hx) != 2:
        raise RuntimeError(f"lstm(): expected hx to be a pair (h0, c0), got {len(hx)} tensors")
    options = (has_biases, num_layers, dropout, train, bidirectional, batch_first)
    return _run_layers("lstm", input, tuple(hx), params, options, _lstm_layer)


def gru(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
    """Same as torch.gru (the function nn.GRU calls): (output, h_n)."""
    options = (has_biases, num_layers, dropout, train, bidirectional, batch_first)
    return _run_layers("gru", input, (hx,), params, options, _gru_layer)


def rnn_tanh(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
    """Same as torch.rnn_tanh (the function nn.RNN calls): (output, h_n)."""
    options = (has_biases, num_layers, dropout, train, bidirectional, batch_first)
    return _run_layers("rnn_tanh", input, (hx,), params, options, _rnn_layer("tanh"))


def rnn_relu(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
    """Same as torch.rnn_relu (the function nn.RNN(nonlinearity='relu') calls): (output, h_n)."""
    options = (has_biases, num_layers, dropout, train, bidirectional, batch_first)
    return _run_layers("rnn_relu", input, (hx,), params, options, _rnn_layer("relu"))


def _check_cell(op, input, hx, w_ih, w_hh, chunks):
    """PyTorch's checks of a cell's input and hidden states, with its messages."""
    if input.dim() != 2:
        raise RuntimeError(f"{op}(): expected a 2-D input, got {list(input.shape)}")
    if input.shape[1] != w_ih.shape[1]:
        raise RuntimeError(
            f"input has inconsistent input_size: got {input.shape[1]} expected {w_ih.shape[1]}"
        )
    hidden = w_hh.shape[0] // chunks
    for k, h in enumerate(hx):
        if input.shape[0] != h.shape[0]:
            raise RuntimeError(
                f"Input batch size {input.shape[0]} doesn't match hidden{k} batch size {h.shape[0]}"
            )
        if h.shape[-1] != hidden:
            raise RuntimeError(
                f"hidden{k} has inconsistent hidden_size: got {h.shape[-1]}, expected {hidden}"
            )
    _check_same_dtype(op, [input, *hx, w_ih, w_hh])


def lstm_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """Same as torch.lstm_cell (the function nn.LSTMCell calls): (h', c') for one step."""
    h, c = hx
    _check_cell("lstm_cell", input, (h, c), w_ih, w_hh, 4)
    hs, cs, _ = LstmLayer.apply(input.unsqueeze(0), w_ih, w_hh, b_ih, b_hh, h, c)
    return _handed_out(hs[0]), _handed_out(cs[0])


def gru_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """Same as torch.gru_cell (the function nn.GRUCell calls): h' for one step."""
    _check_cell("gru_cell", input, (hx,), w_ih, w_hh, 3)
    x = input.mm(w_ih.t())
    x = x if b_ih is None else x + b_ih
    return _handed_out(GruLayer.apply(x.unsqueeze(0), w_hh, b_hh, hx)[0])


def _rnn_cell(op, nonlinearity):
    def cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
        _check_cell(op, input, (hx,), w_ih, w_hh, 1)
        x = input.mm(w_ih.t())
        bias = _sum_bias(b_ih, b_hh)
        x = x if bias is None else x + bias
        return _handed_out(RnnLayer.apply(x.unsqueeze(0), w_hh, hx, nonlinearity)[0])

    cell.__name__ = cell.__qualname__ = op
    cell.__doc__ = f"Same as torch.{op} (the function nn.RNNCell calls): h' for one step."
    return cell


rnn_tanh_cell = _rnn_cell("rnn_tanh_cell", "tanh")
rnn_relu_cell = _rnn_cell("rnn_relu_cell", "relu")

__all__ = [
    "gru",
    "gru_cell",
    "lstm",
    "lstm_cell",
    "rnn_relu",
    "rnn_relu_cell",
    "rnn_tanh",
    "rnn_tanh_cell",
]
