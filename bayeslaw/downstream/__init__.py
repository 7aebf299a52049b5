"""Downstream laws on top of loss fits: observational scaling, the OLMo ladder, the Performance Law for MMLU, and quantization precision."""
