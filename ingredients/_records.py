"""The speedrun records that ingredients cite (facts from the modded-nanogpt README and record logs)."""

from remix.ingredient import Provenance

R2 = Provenance("2", "06/06/24", "31.4 minutes", "2024-06-06_AdamW", "tuned learning rate & rotary embeddings")
R3 = Provenance("3", "10/04/24", "24.9 minutes", "", "introduced the Muon optimizer")
R4 = Provenance("4", "10/11/24", "22.3 minutes", "2024-10-10_Muon", "Muon improvements")
R5 = Provenance("5", "10/14/24", "15.2 minutes", "2024-10-14_ModernArch",
                "pad embeddings, ReLU², zero-init projections, QK-norm")
R8 = Provenance("8", "11/03/24", "10.8 minutes", "2024-11-03_UntieEmbed", "untied embedding and head")
R9 = Provenance("9", "11/06/24", "8.2 minutes", "2024-11-06_ShortcutsTweaks",
                "value and embedding skips, momentum warm-up, logit soft-cap")
R10 = Provenance("10", "11/08/24", "7.8 minutes", "2024-11-08_CastBf16", "bfloat16 activations")
R12 = Provenance("12", "11/19/24", "5.03 minutes", "2024-11-19_FlexAttention",
                 "1024-ctx dense causal attention → 64K-ctx FlexAttention")
R13 = Provenance("13", "11/24/24", "4.66 minutes", "2024-11-24_WindowWarmup", "attention window warm-up")
R14 = Provenance("14", "12/04/24", "4.41 minutes", "2024-12-04_ValueEmbed", "value embeddings (QK-norm before RoPE)")
R15 = Provenance("15", "12/08/24", "3.95 minutes", "2024-12-08_UNetValueEmbedsTweaks",
                 "U-net value embeddings; Muon with EMA momentum, grouped by size, all-gathered updates")
R17 = Provenance("17", "12/17/24", "3.57 minutes", "2024-12-17_SparsifyEmbeds", "half-truncated RoPE")
R18 = Provenance("18", "01/04/25", "3.4 minutes", "2025-01-04_SoftCap", "logit soft-cap 30 → 15")
R19 = Provenance("19", "01/13/25", "3.142 minutes", "2025-01-13_Fp8LmHead",
                 "FP8 head, offset logits, lr decay to 0.1 instead of 0.0")
R20 = Provenance("20", "01/16/25", "2.992 minutes", "2025-01-16_Sub3Min",
                 "merged QKV, long-short attention, attention scale, lower Adam epsilon, batched Muon")
R21b = Provenance("21 (3.014)", "05/24/25", "3.014 minutes", "2025-05-24_StableTorch",
                  "21st record with latest torch")
R26 = Provenance("26", "07/13/25", "2.863 minutes", "2025-07-12_BosAlign", "BOS-aligned training batches")
REMIXED = Provenance("", "04/18/25", "", "", "modded-nanogpt-remixed baselines A and M (train_gpt_A.py / train_gpt_M.py)")
