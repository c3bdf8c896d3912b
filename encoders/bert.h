/* BERT text encoder: HF BertModel's architecture exactly (eval semantics, no dropout), a
 * pooling (CLS or masked mean) and a bias-free projection to the joint space D. Written
 * once against the backend interface; HF folders are imported by bert_load.c. */
#ifndef LV_BERT_H
#define LV_BERT_H

#include <stddef.h>
#include <stdint.h>

#include "core/backend.h"
#include "core/params.h"
#include "core/safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

/* CLS: the [CLS] token's final hidden state (no pooler dense+tanh; HF's pooler_output is
 * not supported). MEAN: the mean over real tokens (sentence-transformers, all-MiniLM-L6-v2). */
typedef enum lv_bert_pooling { LV_BERT_POOL_CLS = 0, LV_BERT_POOL_MEAN = 1 } lv_bert_pooling;

/* "cls" / "mean"; NULL for an unknown value. */
const char *lv_bert_pooling_name(lv_bert_pooling p);
lv_status lv_bert_pooling_parse(lv_bert_pooling *out, const char *name);

typedef struct lv_bert_config {
    /* From HF config.json (key names in comments). */
    int vocab;        /* vocab_size */
    int hidden;       /* hidden_size H */
    int layers;       /* num_hidden_layers */
    int heads;        /* num_attention_heads (divides H) */
    int intermediate; /* intermediate_size I */
    int max_position; /* max_position_embeddings: the longest sequence */
    int type_vocab;   /* type_vocab_size (only token type 0 is used) */
    int pad_token_id; /* pad_token_id: its word-embedding row never gets a gradient */
    float ln_eps;     /* layer_norm_eps (BERT: 1e-12) */
    float init_range; /* initializer_range: std of the normal init */
    /* Ours, not HF's: set them after parsing (parse leaves CLS and 0). */
    lv_bert_pooling pooling;
    int dim; /* projection output D; 0 = no projection */
} lv_bert_config;

/* A small random encoder for runs without a pretrained folder (vocab as given). */
void lv_bert_config_small(lv_bert_config *c, int vocab, int dim);
/* Checks ranges and consistency; messages name the field. */
lv_status lv_bert_config_check(const lv_bert_config *c);
/* Parses HF config.json text; `source` names it in messages. Missing required keys, wrong
 * types, hidden_act other than "gelu" (erf), position_embedding_type other than "absolute"
 * or a model_type other than "bert" are LV_ERR_INPUT. Optional keys get HF's defaults. */
lv_status lv_bert_config_parse(lv_bert_config *c, const char *json, const char *source);
/* Reads and parses a config.json file. */
lv_status lv_bert_config_load(lv_bert_config *c, const char *path);

/* Offsets (floats) of one encoder layer's tensors in the parameter buffer. query, key and
 * value weights are laid out back to back (one [3H,H] matrix) and so are their biases
 * ([3H]), so one linear computes the packed qkv the attention op reads. */
typedef struct lv_bert_layer {
    size_t qkv_w, qkv_b;          /* attention.self.{query,key,value}.weight/.bias */
    size_t attn_out_w, attn_out_b; /* attention.output.dense [H,H], [H] */
    size_t ln1_w, ln1_b;          /* attention.output.LayerNorm [H] */
    size_t inter_w, inter_b;      /* intermediate.dense [I,H], [I] */
    size_t out_w, out_b;          /* output.dense [H,I], [H] */
    size_t ln2_w, ln2_b;          /* output.LayerNorm [H] */
} lv_bert_layer;

typedef struct lv_bert {
    lv_bert_config cfg;
    size_t word, position, token_type; /* embeddings [V,H], [max_position,H], [type_vocab,H] */
    size_t emb_ln_w, emb_ln_b;         /* embeddings.LayerNorm [H] */
    lv_bert_layer *layer;              /* cfg.layers entries */
    size_t proj_w;                     /* [D,H], no bias (dim > 0) */
    /* HF BertModel state-dict names without a prefix ("embeddings.word_embeddings.weight",
     * "encoder.layer.0.attention.self.query.weight", "proj.weight"); the checkpoint adds
     * "text.". */
    lv_param_layout params;
} lv_bert;

/* Describes the model (checks the config); no memory for numbers yet. */
lv_status lv_bert_build(lv_bert *m, const lv_bert_config *cfg);
void lv_bert_free(lv_bert *m);
/* HF's _init_weights on a host copy: normal(0, initializer_range) for linear weights and
 * embeddings (the pad row zeroed), LayerNorm 1/0, biases 0; proj.weight uniform
 * +-1/sqrt(H) like nn.Linear. One Philox stream per tensor. */
void lv_bert_init_host(const lv_bert *m, float *params, uint64_t seed);

typedef struct lv_bert_act {
    float *x, *dx; /* dx is NULL when the activations were allocated without gradients */
} lv_bert_act;

typedef struct lv_bert_layer_acts {
    lv_bert_act qkv;      /* [n,3H] */
    float *att;           /* [b,nh,t,t] probabilities */
    lv_bert_act ctx;      /* attention core output [n,H] */
    lv_bert_act attn_out; /* output dense [n,H] */
    lv_bert_act res1;     /* attn_out + layer input */
    lv_bert_act h1;       /* LayerNorm(res1) */
    float *ln1_stats;     /* mean [n] then rstd [n] */
    lv_bert_act inter;    /* intermediate dense [n,I] */
    lv_bert_act gelu;     /* [n,I] */
    lv_bert_act ffn_out;  /* output dense [n,H] */
    lv_bert_act res2;     /* ffn_out + h1 */
    lv_bert_act h2;       /* LayerNorm(res2): the layer output */
    float *ln2_stats;
} lv_bert_layer_acts;

/* Activations for at most `batch` sequences of exactly `seq_len` tokens (n = batch*seq_len
 * rows), in one value arena and (with_grads) one gradient arena, so one memset clears
 * every activation gradient. Also holds the constant int inputs (position ids, token types,
 * the CLS mask). */
typedef struct lv_bert_acts {
    lv_backend *be;
    int batch, seq_len, with_grads;
    int cur_batch;          /* the last forward's batch (<= batch) */
    const int *ids, *mask;  /* the last forward's inputs, read by backward */
    float *arena, *grad_arena;
    size_t arena_floats, grad_floats;
    int *consts;            /* position ids [n], zeros [n], cls mask [n] */
    const int *pos_ids, *type_ids, *cls_mask;
    lv_bert_act word, pos, type; /* looked-up embedding rows [n,H] (values only) */
    lv_bert_act sum1, sum2;      /* word + type (values only), + position */
    lv_bert_act emb;             /* embeddings.LayerNorm output: layer 0's input */
    float *emb_ln_stats;
    lv_bert_layer_acts *layer;
    lv_bert_act pooled; /* [batch,H] */
    lv_bert_act out;    /* projection [batch,D] (dim > 0) */
} lv_bert_acts;

/* seq_len must be 1..max_position. Without grads only forward may run (frozen text). */
lv_status lv_bert_acts_alloc(lv_bert_acts *a, const lv_bert *m, lv_backend *be, int batch,
                             int seq_len, int with_grads);
void lv_bert_acts_free(lv_bert_acts *a);
/* The last layer's output [batch*seq_len, H] (HF last_hidden_state). */
const float *lv_bert_last_hidden(const lv_bert *m, const lv_bert_acts *a);

/* Forward of `batch` (1..a->batch) sequences: ids, mask int32 [batch, seq_len] on the
 * device (mask: nonzero = real token; ids < vocab, as the tokenizer guarantees) ->
 * a->pooled.x [batch,H] and (dim > 0) a->out.x [batch,D]. Bad arguments become a sticky
 * backend error (reported by sync). ids and mask must stay alive until backward. */
void lv_bert_forward(const lv_bert *m, lv_bert_acts *a, const float *params, const int *ids,
                     const int *mask, int batch);
/* Host-side check of token ids [n] before they go to the device (the embedding op trusts
 * them): each must be in 0..vocab-1; the message names the first bad position. */
lv_status lv_bert_check_ids(const lv_bert *m, const int *ids, size_t n);
/* Backward of the last forward from demb [batch,D] and/or dpooled [batch,H] (either may be
 * NULL), ADDING into grads (same layout as params). The pad token's word-embedding row gets
 * no gradient (HF padding_idx): backward zeroes that row of grads. */
void lv_bert_backward(const lv_bert *m, lv_bert_acts *a, const float *params, float *grads,
                      const float *demb, const float *dpooled);

/* HF folder import (bert_load.c; the pooling reader sits with the JSON code in
 * bert_config.c). Names accepted: HF BertModel's, optionally under "bert."
 * (BertForPreTraining & co.), old "LayerNorm.gamma"/"LayerNorm.beta" for weight/bias.
 * Ignored: "cls.*", "pooler.*", "embeddings.position_ids" and any tensor outside
 * "embeddings."/"encoder." (task heads). Unexpected "embeddings."/"encoder." tensors,
 * duplicates, missing tensors and wrong shapes are LV_ERR_INPUT naming file and tensor.
 * proj.weight is ours and is never read from an HF file. */
lv_status lv_bert_load_hf_weights(const lv_bert *m, float *params, const lv_st_file *f);
/* DIR/config.json -> cfg (pooling CLS, dim 0: set them afterwards). */
lv_status lv_bert_load_hf_config(lv_bert_config *cfg, const char *dir);
/* DIR/model.safetensors -> params (host, m->params.total floats). */
lv_status lv_bert_load_hf_folder(const lv_bert *m, float *params, const char *dir);
/* sentence-transformers folders say their pooling in DIR/1_Pooling/config.json: *found = 0
 * when the file is absent; a file asking for something else than CLS or mean is an error. */
lv_status lv_bert_hf_folder_pooling(const char *dir, lv_bert_pooling *out, int *found);

#ifdef __cplusplus
}
#endif
#endif
