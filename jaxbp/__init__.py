"""jaxbp: chapter 5 of *Deep Learning from Scratch* (backpropagation) in JAX.

Modules follow the chapter:
  graph          5.1-5.4  add and multiply nodes, the shopping examples
  layers         5.5-5.6  relu, sigmoid, affine, softmax_with_loss
  two_layer_net  5.7.2    TwoLayerNet as pure functions of a params dict
  gradient       5.7.3    numerical gradient and the three-way gradient check
  mnist          5.7.4    the MNIST loader (book 3.6.1)
  train          5.7.4    the training script
  reference               plain-jnp twins used by the tests
"""
__version__ = "0.1.0"
