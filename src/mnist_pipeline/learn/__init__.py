"""Learning: model builders, the training loops, test-set metrics and the pictures of them.

The only layer that imports Keras and TensorFlow (when a stage trains); may import `data`,
`config` and `plumbing`, never `tracking`: what it computes is logged by the stages.
"""
