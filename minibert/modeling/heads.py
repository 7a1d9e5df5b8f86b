"""Task heads that sit on the encoder: masked-LM and next-sentence prediction."""

from __future__ import annotations

from autograd import get_xp, nn
from autograd.nn import functional as F
from minibert.config import BertConfig
from minibert.modeling.layer import activation


class BertPredictionHeadTransform(nn.Module):
    """LayerNorm(act(W h + b)) before the vocabulary projection.

    Shapes:
        hidden_states (..., H); returns (..., H).
    """

    def __init__(self, config: BertConfig, generator):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size, generator=generator)
        self.transform_act_fn = activation(config.hidden_act)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states):
        return self.LayerNorm(self.transform_act_fn(self.dense(hidden_states)))


class BertLMPredictionHead(nn.Module):
    """Vocabulary logits: transform(h) E^T + b, with E the *tied* word-embedding matrix.

    Tying input and output embeddings (as BERT does) saves V x H parameters and ties a token's
    meaning on both ends. The embedding is referenced, not registered here, so it appears once in
    ``state_dict()`` (as transformers saves it).

    Shapes:
        hidden_states (..., H); returns (..., V).
    """

    def __init__(self, config: BertConfig, word_embeddings: nn.Embedding, generator):
        super().__init__()
        self.transform = BertPredictionHeadTransform(config, generator)
        weight = word_embeddings.weight.data
        self.bias = nn.Parameter(get_xp(weight).zeros(config.vocab_size, dtype=weight.dtype))
        object.__setattr__(self, "tied_embeddings", word_embeddings)  # not a child module

    def forward(self, hidden_states):
        weight = self.tied_embeddings.weight  # (V, H)
        # One fused node: (..., H) @ (H, V) with the bias added in place, no transpose node.
        return F.linear(self.transform(hidden_states), weight, self.bias)  # (..., H) -> (..., V)


class BertPreTrainingHeads(nn.Module):
    """The masked-LM head (``predictions``) and the NSP classifier (``seq_relationship``).

    Shapes:
        sequence_output (..., H) -> (..., V); pooled_output (B, H) -> (B, 2).
    """

    def __init__(self, config: BertConfig, word_embeddings: nn.Embedding, generator):
        super().__init__()
        self.predictions = BertLMPredictionHead(config, word_embeddings, generator)
        self.seq_relationship = nn.Linear(config.hidden_size, 2, generator=generator)


class BertOnlyMLMHead(nn.Module):
    def __init__(self, config: BertConfig, word_embeddings: nn.Embedding, generator):
        super().__init__()
        self.predictions = BertLMPredictionHead(config, word_embeddings, generator)


class BertOnlyNSPHead(nn.Module):
    def __init__(self, config: BertConfig, generator):
        super().__init__()
        self.seq_relationship = nn.Linear(config.hidden_size, 2, generator=generator)
