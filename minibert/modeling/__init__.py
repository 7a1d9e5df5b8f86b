"""BERT, layer by layer, on the autograd engine."""

from minibert.modeling.attention import BertAttention, BertSelfAttention, BertSelfOutput
from minibert.modeling.embeddings import BertEmbeddings, sinusoidal_table
from minibert.modeling.encoder_decoder import BertEncoderDecoder, MiniGPT  # noqa: F401
from minibert.modeling.layer import BertEncoder, BertIntermediate, BertLayer, BertOutput
from minibert.modeling.models import (
    IGNORE_INDEX,
    BertForMaskedLM,
    BertForNextSentencePrediction,
    BertForPreTraining,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
)
from minibert.modeling.pooling import POOLING_STRATEGIES, BertPooler, pool
from minibert.modeling.pretrained import BertPreTrainedModel

__all__ = [
    "IGNORE_INDEX", "POOLING_STRATEGIES", "BertAttention", "BertEmbeddings", "BertEncoder",
    "BertForMaskedLM", "BertForNextSentencePrediction", "BertForPreTraining",
    "BertForQuestionAnswering", "BertForSequenceClassification", "BertForTokenClassification",
    "BertIntermediate", "BertLayer", "BertModel", "BertOutput", "BertPooler",
    "BertPreTrainedModel", "BertSelfAttention", "BertSelfOutput", "pool", "sinusoidal_table",
]  # fmt: skip
