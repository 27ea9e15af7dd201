"""Student training and evaluation: a transformers encoder for classifiers, TRL/PEFT for causal LMs.

Models arrive as local paths chosen by the pipeline layer; nothing here talks to the teacher.
"""
