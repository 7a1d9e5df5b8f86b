"""BERT and its task models, with transformers' class names, arguments and outputs.

Every model takes ``(input_ids, attention_mask=None, token_type_ids=None, position_ids=None,
labels=..., output_attentions=False, output_hidden_states=False)``; inputs may be lists, arrays
or integer tensors, and the loss is computed when labels are given.
"""

from __future__ import annotations

import numpy as np

import autograd as ag
from autograd import Tensor, get_xp, nn
from minibert.config import BertConfig
from minibert.modeling.embeddings import BertEmbeddings
from minibert.modeling.heads import BertOnlyMLMHead, BertOnlyNSPHead, BertPreTrainingHeads
from minibert.modeling.inputs import additive_attention_mask, as_index_array, check_inputs
from minibert.modeling.layer import BertEncoder
from minibert.modeling.outputs import (
    BaseModelOutputWithPooling,
    BertForPreTrainingOutput,
    MaskedLMOutput,
    NextSentencePredictorOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)
from minibert.modeling.pooling import BertPooler
from minibert.modeling.pretrained import BertPreTrainedModel

IGNORE_INDEX = -100  # label of positions that carry no loss (unmasked tokens, padding)


class BertModel(BertPreTrainedModel):
    """The encoder: embeddings, ``num_hidden_layers`` layers, and the [CLS] pooler.

    Args:
        config: a ``BertConfig``.
        add_pooling_layer: build the pooler (task models that read token states skip it).
        seed: seeds initialization and dropout (see ``BertPreTrainedModel``).

    ``inputs_embeds`` (keyword only, as in every task model) replaces ``input_ids`` by the
    word embeddings themselves, as transformers' argument of that name does: position and token
    type embeddings are still added. Gradients can then be taken with respect to the input
    (saliency, adversarial perturbations), which integer ids do not allow.

    ``output_positions`` (keyword only; minibert's, not transformers') names the positions whose
    last hidden states the caller will read, as flat indices into the B * T tokens (row b,
    position t is ``b * T + t``). The last layer then computes only those rows after its
    self-attention, which still reads every position as keys and values: pretraining's loss
    reads the ~15% masked positions, and the last layer's other rows (three quarters of its
    products) would be thrown away. The pooler's [CLS] rows are computed alongside. The last
    layer's output then has R rows, not B * T, so ``output_hidden_states`` cannot be asked too.

    Shapes:
        input_ids, attention_mask, token_type_ids, position_ids (B, T); inputs_embeds (B, T, H);
        output_positions (R,); returns last_hidden_state (B, T, H), or (R, H) with
        output_positions, and pooler_output (B, H).
    """

    def __init__(
        self, config: BertConfig, add_pooling_layer: bool = True, seed: int = 0, *, _owner=None
    ):
        super().__init__(config, seed)
        owner = _owner if _owner is not None else self  # a task model shares its generators
        self.embeddings = BertEmbeddings(config, owner.init_generator, owner.dropout_generator)
        self.encoder = BertEncoder(config, owner.init_generator, owner.dropout_generator)
        self.pooler = BertPooler(config, owner.init_generator) if add_pooling_layer else None
        if _owner is None:
            self.init_weights()

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        *,
        inputs_embeds=None,
        output_positions=None,
    ) -> BaseModelOutputWithPooling:
        weight = self.embeddings.word_embeddings.weight.data
        xp = get_xp(weight)
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError(
                "give exactly one of input_ids and inputs_embeds (the word embeddings of the "
                f"tokens), got {'both' if input_ids is not None else 'neither'}"
            )
        if inputs_embeds is not None:
            inputs_embeds = check_inputs_embeds(inputs_embeds, self.config.hidden_size, weight)
            # The embeddings stand in for the ids; id 0 is always valid, so these placeholder
            # ids let check_inputs test everything else (length, mask and type shapes).
            ids_to_check = xp.zeros(inputs_embeds.shape[:2], dtype=xp.int64)  # (B, T)
        else:
            input_ids = ids_to_check = as_index_array(input_ids, "input_ids", xp)
        attention_mask = as_index_array(attention_mask, "attention_mask", xp)
        token_type_ids = as_index_array(token_type_ids, "token_type_ids", xp)
        check_inputs(self.config, ids_to_check, attention_mask, token_type_ids)
        B, T = ids_to_check.shape
        if token_type_ids is None:
            token_type_ids = xp.zeros((B, T), dtype=xp.int64)
        if position_ids is None:
            position_ids = xp.broadcast_to(xp.arange(T, dtype=xp.int64), (B, T))
        else:
            position_ids = as_index_array(position_ids, "position_ids", xp)
        mask = additive_attention_mask(attention_mask, T, self.config.is_decoder, weight.dtype, xp)

        # (B, T) ids, or the (B, T, H) inputs_embeds -> (B, T, H)
        hidden = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds)
        if output_positions is None:
            hidden, all_hidden, all_attentions = self.encoder(hidden, mask, output_attentions)
            pooled = self.pooler(hidden) if self.pooler is not None else None
        else:
            if output_hidden_states:
                raise ValueError(
                    "output_positions computes the last layer at those positions only, so it "
                    "cannot also give every layer's hidden states; ask for one or the other"
                )
            positions = check_output_positions(output_positions, B * T, xp)
            R = positions.shape[0]
            if self.pooler is not None:  # the [CLS] rows (b * T) ride along, after the R asked
                positions = xp.concatenate([positions, xp.arange(B, dtype=xp.int64) * T])
            hidden, _, all_attentions = self.encoder(hidden, mask, output_attentions, positions)
            pooled = None
            if self.pooler is not None:
                cls_states = hidden[R:].reshape(B, 1, -1)  # (B, H) -> (B, 1, H): position 0 each
                hidden, pooled = hidden[:R], self.pooler(cls_states)
            all_hidden = None
        return BaseModelOutputWithPooling(
            last_hidden_state=hidden,
            pooler_output=pooled,
            hidden_states=all_hidden if output_hidden_states else None,
            attentions=all_attentions if output_attentions else None,
        )


def check_output_positions(positions, n_tokens: int, xp):
    """``output_positions`` as an int64 (R,) array of the model's array module, after checking it.

    Shapes:
        positions (R,) flat indices into the n_tokens = B * T positions.
    """
    if getattr(positions, "dtype", None) is not None and positions.dtype.kind == "b":
        raise TypeError("output_positions takes flat indices (b * T + t), not a boolean mask; "
                        "xp.nonzero(mask.reshape(-1))[0] gives them")  # fmt: skip
    positions = as_index_array(positions, "output_positions", xp)
    if positions.ndim != 1:
        raise ValueError(
            f"output_positions must be one axis of flat indices (b * T + t), got shape "
            f"{tuple(positions.shape)}"
        )
    if positions.size and (int(positions.min()) < 0 or int(positions.max()) >= n_tokens):
        raise ValueError(
            f"output_positions must lie in [0, {n_tokens}) (batch x sequence length), got "
            f"values from {int(positions.min())} to {int(positions.max())}"
        )
    return positions


def check_inputs_embeds(inputs_embeds, hidden_size: int, weight) -> Tensor:
    """``inputs_embeds`` as a Tensor, after checking its shape, dtype and array module.

    Shapes:
        inputs_embeds (B, T, H).
    """
    if not isinstance(inputs_embeds, Tensor):
        inputs_embeds = Tensor(inputs_embeds)
    if inputs_embeds.ndim != 3 or inputs_embeds.shape[2] != hidden_size:
        raise ValueError(
            f"inputs_embeds must be (batch, sequence, hidden_size={hidden_size}), got shape "
            f"{tuple(inputs_embeds.shape)}"
        )
    if get_xp(inputs_embeds.data).__name__ != get_xp(weight).__name__:
        raise TypeError(
            f"inputs_embeds is a {get_xp(inputs_embeds.data).__name__} array but the model's "
            f"weights live in {get_xp(weight).__name__}; create it on the model's device"
        )
    if inputs_embeds.dtype != weight.dtype:
        raise TypeError(
            f"inputs_embeds has dtype {inputs_embeds.dtype} but the model's weights "
            f"{weight.dtype}; convert one of them (model.astype or array.astype)"
        )
    return inputs_embeds


def _labels(labels, xp):
    return as_index_array(labels, "labels", xp) if labels is not None else None


def labelled_positions(labels, tokens_shape: tuple, xp):
    """The flat positions b * T + t whose label is not -100: where the MLM loss looks.

    Shapes:
        labels (B, T) for tokens_shape (B, T); returns (M,).
    """
    if tuple(labels.shape) != tuple(tokens_shape):
        raise ValueError(
            f"labels has shape {tuple(labels.shape)} but input_ids has {tuple(tokens_shape)}"
        )
    return xp.nonzero(labels.reshape(-1) != IGNORE_INDEX)[0]  # (B, T) -> (B*T,) -> (M,)


def _tokens_shape(input_ids, inputs_embeds) -> tuple:
    """(B, T) of the batch, before the model has checked its inputs."""
    source = inputs_embeds if input_ids is None else input_ids
    return tuple((source.shape if hasattr(source, "shape") else np.shape(source))[:2])


def masked_lm(head, states: Tensor, labels, positions):
    """MLM logits and loss: everywhere, or at ``positions`` only (the labelled ones).

    The vocabulary projection is the most expensive matmul in BERT (V is large), and its loss
    only reads the ~15% of positions that carry labels: computing it there alone, as the original
    BERT does, gives the same loss for a fraction of the work.

    Shapes:
        without positions: states (B, T, H), labels (B, T) or None; returns logits (B, T, V);
        with positions (M,): states (M, H), those positions' states; returns logits (M, V).
    """
    logits = head.predictions(states)  # (..., H) -> (..., V)
    if labels is None:
        return logits, None
    targets = labels if positions is None else labels.reshape(-1)[positions]  # (M,)
    return logits, ag.cross_entropy(logits, targets, ignore_index=IGNORE_INDEX)


def masked_lm_forward(
    model, ids_and_masks: tuple, labels, masked_only, output_attentions, output_hidden_states,
    inputs_embeds,
):  # fmt: skip
    """``model.bert``, then the masked-LM head ``model.cls``: (bert's output, logits, loss,
    the labelled positions or None).

    With ``masked_only`` (default: True when labels are given) the head reads the labelled
    positions only, and the encoder's last layer computes just those (``BertModel``'s
    ``output_positions``), unless every layer's hidden states are asked for.

    Shapes:
        ids_and_masks: input_ids, attention_mask, token_type_ids, position_ids (B, T) or None;
        labels (B, T) or None; returns logits (B, T, V), or (M, V) with positions (M,).
    """
    bert = model.bert
    xp = get_xp(bert.embeddings.word_embeddings.weight.data)
    labels = _labels(labels, xp)
    masked_only = labels is not None if masked_only is None else masked_only
    positions = None
    if masked_only and labels is not None:
        tokens_shape = _tokens_shape(ids_and_masks[0], inputs_embeds)
        positions = labelled_positions(labels, tokens_shape, xp)
    pruned = positions is not None and not output_hidden_states
    out = bert(
        *ids_and_masks, output_attentions, output_hidden_states, inputs_embeds=inputs_embeds,
        output_positions=positions if pruned else None,
    )  # fmt: skip
    states = out.last_hidden_state
    if positions is not None and not pruned:
        states = states.reshape(-1, states.shape[-1])[positions]  # (B*T, H) -> (M, H)
    logits, loss = masked_lm(model.cls, states, labels, positions)
    return out, logits, loss, positions


class BertForPreTraining(BertPreTrainedModel):
    """BERT with the masked-LM and next-sentence heads; loss = MLM loss + NSP loss.

    ``forward(..., labels=(B, T) with -100 where unmasked, next_sentence_label=(B,) with 0 =
    IsNext, 1 = NotNext, masked_only=None)``. ``masked_only`` (default: True when labels are
    given) computes vocabulary logits at the labelled positions only, and the last layer past
    its self-attention at those and the [CLS] positions only (``BertModel``'s
    ``output_positions``; not when ``output_hidden_states`` asks for every row); the loss and
    the gradients are unchanged.
    """

    def __init__(self, config: BertConfig, seed: int = 0):
        super().__init__(config, seed)
        self.bert = BertModel(config, add_pooling_layer=True, _owner=self)
        self.cls = BertPreTrainingHeads(
            config, self.bert.embeddings.word_embeddings, self.init_generator
        )
        self.init_weights()

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        labels=None,
        next_sentence_label=None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        masked_only: bool | None = None,
        *,
        inputs_embeds=None,
    ) -> BertForPreTrainingOutput:
        out, logits, mlm_loss, positions = masked_lm_forward(
            self, (input_ids, attention_mask, token_type_ids, position_ids), labels, masked_only,
            output_attentions, output_hidden_states, inputs_embeds,
        )  # fmt: skip
        xp = get_xp(out.pooler_output.data)
        nsp_logits = self.cls.seq_relationship(out.pooler_output)  # (B, H) -> (B, 2)
        nsp_loss = None
        if next_sentence_label is not None:
            nsp_loss = ag.cross_entropy(nsp_logits, _labels(next_sentence_label, xp))
        losses = [loss for loss in (mlm_loss, nsp_loss) if loss is not None]
        return BertForPreTrainingOutput(
            loss=losses[0] + losses[1] if len(losses) == 2 else (losses[0] if losses else None),
            prediction_logits=logits,
            seq_relationship_logits=nsp_logits,
            hidden_states=out.hidden_states,
            attentions=out.attentions,
            mlm_loss=mlm_loss,
            nsp_loss=nsp_loss,
            masked_positions=positions,
        )


class BertForMaskedLM(BertPreTrainedModel):
    """BERT with the masked-LM head only (no pooler). See ``BertForPreTraining`` for
    ``masked_only``."""

    def __init__(self, config: BertConfig, seed: int = 0):
        super().__init__(config, seed)
        self.bert = BertModel(config, add_pooling_layer=False, _owner=self)
        self.cls = BertOnlyMLMHead(
            config, self.bert.embeddings.word_embeddings, self.init_generator
        )
        self.init_weights()

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        labels=None,
        output_attentions=False,
        output_hidden_states=False,
        masked_only=None,
        *,
        inputs_embeds=None,
    ):
        out, logits, loss, positions = masked_lm_forward(
            self, (input_ids, attention_mask, token_type_ids, position_ids), labels, masked_only,
            output_attentions, output_hidden_states, inputs_embeds,
        )  # fmt: skip
        return MaskedLMOutput(loss, logits, out.hidden_states, out.attentions, positions)


class BertForNextSentencePrediction(BertPreTrainedModel):
    """BERT with the NSP head: is segment B the continuation of segment A (label 0) or not (1)?"""

    def __init__(self, config: BertConfig, seed: int = 0):
        super().__init__(config, seed)
        self.bert = BertModel(config, add_pooling_layer=True, _owner=self)
        self.cls = BertOnlyNSPHead(config, self.init_generator)
        self.init_weights()

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        labels=None,
        output_attentions=False,
        output_hidden_states=False,
        *,
        inputs_embeds=None,
    ):
        out = self.bert(
            input_ids,
            attention_mask,
            token_type_ids,
            position_ids,
            output_attentions,
            output_hidden_states,
            inputs_embeds=inputs_embeds,
        )
        logits = self.cls.seq_relationship(out.pooler_output)  # (B, 2)
        labels = _labels(labels, get_xp(logits.data))
        loss = ag.cross_entropy(logits, labels) if labels is not None else None
        return NextSentencePredictorOutput(loss, logits, out.hidden_states, out.attentions)


def _classifier_dropout(config: BertConfig, generator) -> nn.Dropout:
    p = (
        config.classifier_dropout
        if config.classifier_dropout is not None
        else config.hidden_dropout_prob
    )
    return nn.Dropout(p, generator=generator)


class BertForSequenceClassification(BertPreTrainedModel):
    """A linear classifier on the pooled [CLS] state.

    With ``config.num_labels == 1`` it is a regression (mean squared error against float labels);
    otherwise cross-entropy against integer labels.

    Shapes:
        returns logits (B, num_labels); labels (B,).
    """

    def __init__(self, config: BertConfig, seed: int = 0):
        super().__init__(config, seed)
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=True, _owner=self)
        self.dropout = _classifier_dropout(config, self.dropout_generator)
        self.classifier = nn.Linear(
            config.hidden_size, config.num_labels, generator=self.init_generator
        )
        self.init_weights()

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        labels=None,
        output_attentions=False,
        output_hidden_states=False,
        *,
        inputs_embeds=None,
    ):
        out = self.bert(
            input_ids,
            attention_mask,
            token_type_ids,
            position_ids,
            output_attentions,
            output_hidden_states,
            inputs_embeds=inputs_embeds,
        )
        logits = self.classifier(self.dropout(out.pooler_output))  # (B, H) -> (B, num_labels)
        loss = None
        if labels is not None:
            xp = get_xp(logits.data)
            if self.num_labels == 1:
                targets = labels.data if isinstance(labels, Tensor) else xp.asarray(labels)
                targets = targets.astype(logits.dtype).reshape(-1)  # (B,)
                difference = logits.reshape(-1) - Tensor(targets)
                loss = (difference * difference).mean()
            else:
                loss = ag.cross_entropy(logits, _labels(labels, xp))
        return SequenceClassifierOutput(loss, logits, out.hidden_states, out.attentions)


class BertForTokenClassification(BertPreTrainedModel):
    """A linear classifier on every token state (named-entity tags, for instance).

    Shapes:
        returns logits (B, T, num_labels); labels (B, T) with -100 where no tag counts.
    """

    def __init__(self, config: BertConfig, seed: int = 0):
        super().__init__(config, seed)
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False, _owner=self)
        self.dropout = _classifier_dropout(config, self.dropout_generator)
        self.classifier = nn.Linear(
            config.hidden_size, config.num_labels, generator=self.init_generator
        )
        self.init_weights()

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        labels=None,
        output_attentions=False,
        output_hidden_states=False,
        *,
        inputs_embeds=None,
    ):
        out = self.bert(
            input_ids,
            attention_mask,
            token_type_ids,
            position_ids,
            output_attentions,
            output_hidden_states,
            inputs_embeds=inputs_embeds,
        )
        logits = self.classifier(self.dropout(out.last_hidden_state))  # (B, T, num_labels)
        labels = _labels(labels, get_xp(logits.data))
        loss = (
            ag.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX)
            if labels is not None
            else None
        )
        return TokenClassifierOutput(loss, logits, out.hidden_states, out.attentions)


class BertForQuestionAnswering(BertPreTrainedModel):
    """Extractive QA: a start and an end score for every token; the answer is the best span.

    The loss averages the cross-entropies of the true start and end positions. Positions
    outside the sequence (an answer truncated away) are clamped to T and ignored, as in
    transformers.

    Shapes:
        returns start_logits, end_logits (B, T); start_positions, end_positions (B,).
    """

    def __init__(self, config: BertConfig, seed: int = 0):
        super().__init__(config, seed)
        if config.num_labels != 2:
            raise ValueError(
                f"BertForQuestionAnswering needs num_labels=2 (a start and an end score), "
                f"got {config.num_labels}"
            )
        self.bert = BertModel(config, add_pooling_layer=False, _owner=self)
        # Sized by num_labels, as transformers does, so its checkpoints load unchanged.
        self.qa_outputs = nn.Linear(
            config.hidden_size, config.num_labels, generator=self.init_generator
        )
        self.init_weights()

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        start_positions=None,
        end_positions=None,
        output_attentions=False,
        output_hidden_states=False,
        *,
        inputs_embeds=None,
    ):
        out = self.bert(
            input_ids,
            attention_mask,
            token_type_ids,
            position_ids,
            output_attentions,
            output_hidden_states,
            inputs_embeds=inputs_embeds,
        )
        logits = self.qa_outputs(out.last_hidden_state)  # (B, T, H) -> (B, T, 2)
        start_logits, end_logits = logits[..., 0], logits[..., 1]  # (B, T) each
        loss = None
        if start_positions is not None and end_positions is not None:
            xp = get_xp(logits.data)
            T = start_logits.shape[1]
            starts = xp.clip(as_index_array(start_positions, "start_positions", xp), 0, T)
            ends = xp.clip(as_index_array(end_positions, "end_positions", xp), 0, T)
            loss = (
                ag.cross_entropy(start_logits, starts, ignore_index=T)
                + ag.cross_entropy(end_logits, ends, ignore_index=T)
            ) / 2
        return QuestionAnsweringModelOutput(
            loss, start_logits, end_logits, out.hidden_states, out.attentions
        )
