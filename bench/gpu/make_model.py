"""Writes a random-weight T5 of the flagship shape (torch_baseline.py's CFG: 36+36 layers,
d_model 768, d_ff 3072, 12 heads x 64, vocab 32128, relu, tied) as a safetensors model folder,
on the GPU machine (so 2.5 GB never travels). Usage: python3 make_model.py OUT_DIR"""
import os, sys
import torch
from transformers import T5Config, T5ForConditionalGeneration

CFG = dict(vocab_size=32128, d_model=768, d_ff=3072, d_kv=64, num_heads=12,
           num_layers=int(os.environ.get("LAYERS", 36)), num_decoder_layers=int(os.environ.get("LAYERS", 36)),
           feed_forward_proj="relu", tie_word_embeddings=True, dropout_rate=0.1,
           pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
torch.manual_seed(0)
with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
    m = T5ForConditionalGeneration(T5Config(**CFG))
m.save_pretrained(sys.argv[1], safe_serialization=True)
print("model written to", sys.argv[1])
