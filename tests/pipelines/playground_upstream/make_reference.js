// Reference values from TensorFlow Playground's own code, for tests/pipelines/test_playground.py.
//
// The Playground's src/nn.ts and src/dataset.ts (github.com/tensorflow/playground, commit 02469bd), compiled as
// they are, drive the page-load sequence of src/playground.ts copied below: generateData(true) (Math.seedrandom
// with the state's seed, the generator, shuffle, the train/test split), then reset(true) (buildNetwork: every weight
// Math.random() - 0.5, biases 0.1; tanh output for classification, linear for regression), then oneStep() per epoch
// with getLoss on both sets. Regenerate (node 20):
//
//   npm install d3@3.5.17 seedrandom@2.4.3 typescript@2.9.2          # the versions package.json asks for
//   git -C playground show 02469bd:src/nn.ts > src/nn.ts; ... src/dataset.ts > src/dataset.ts
//   node_modules/.bin/tsc --module commonjs --target es5 --outDir build src/nn.ts src/dataset.ts
//   NODE_PATH=node_modules node make_reference.js build > reference.json
"use strict";
require("seedrandom");  // sets Math.seedrandom, as the page's lib.js does
const path = require("path");
const build = path.resolve(process.argv[2] || "build");
const nn = require(path.join(build, "nn.js"));
const dataset = require(path.join(build, "dataset.js"));

// src/playground.ts INPUTS (this order is the input nodes' order)
const INPUTS = {
  x: (x, y) => x, y: (x, y) => y, xSquared: (x, y) => x * x, ySquared: (x, y) => y * y,
  xTimesY: (x, y) => x * y, sinX: (x, y) => Math.sin(x), sinY: (x, y) => Math.sin(y),
};
// src/state.ts
const activations = {relu: nn.Activations.RELU, tanh: nn.Activations.TANH, sigmoid: nn.Activations.SIGMOID,
                     linear: nn.Activations.LINEAR};
const regularizations = {none: null, L1: nn.RegularizationFunction.L1, L2: nn.RegularizationFunction.L2};
const generators = {circle: dataset.classifyCircleData, xor: dataset.classifyXORData,
                    gauss: dataset.classifyTwoGaussData, spiral: dataset.classifySpiralData,
                    "reg-plane": dataset.regressPlane, "reg-gauss": dataset.regressGaussian};

function run(c) {
  const regression = c.dataset.startsWith("reg-");
  const features = Object.keys(INPUTS).filter(k => c.features.includes(k));
  const input = (x, y) => features.map(k => INPUTS[k](x, y));
  // generateData(true)
  Math.seedrandom(c.seed);
  const data = generators[c.dataset](regression ? 1200 : 500, c.noise / 100);  // NUM_SAMPLES_REGRESS / _CLASSIFY
  dataset.shuffle(data);
  const split = Math.floor(data.length * c.percTrainData / 100);
  const train = data.slice(0, split), test = data.slice(split);
  // reset(true)
  const network = nn.buildNetwork([features.length].concat(c.networkShape).concat([1]), activations[c.activation],
                                  regression ? nn.Activations.LINEAR : nn.Activations.TANH,
                                  regularizations[c.regularization], features, false);
  const getLoss = points => points.reduce((sum, p) =>
      sum + nn.Errors.SQUARE.error(nn.forwardProp(network, input(p.x, p.y)), p.label), 0) / points.length;
  const weights = () => network.slice(1).map(layer => layer.map(node => node.inputLinks.map(l => l.weight)));
  const biases = () => network.slice(1).map(layer => layer.map(node => node.bias));
  const dead = () => network.slice(1).map(layer => layer.map(node => node.inputLinks.map(l => l.isDead ? 1 : 0)));
  const summary = points => ({
    n: points.length,
    first: points.slice(0, 3).map(p => [p.x, p.y, p.label]),
    last: points.slice(-3).map(p => [p.x, p.y, p.label]),
    sums: points.reduce((s, p) => [s[0] + p.x, s[1] + p.y, s[2] + p.label, s[3] + p.x * p.x, s[4] + p.y * p.label],
                        [0, 0, 0, 0, 0]),
  });
  const out = {config: c, train: summary(train), test: summary(test), initial_weights: weights(),
               initial_biases: biases(), losses: []};
  out.losses.push([0, getLoss(train), getLoss(test)]);
  for (let iter = 1; iter <= c.epochs; iter++) {
    // oneStep()
    train.forEach((point, i) => {
      nn.forwardProp(network, input(point.x, point.y));
      nn.backProp(network, point.label, nn.Errors.SQUARE);
      if ((i + 1) % c.batchSize === 0) {
        nn.updateWeights(network, c.learningRate, c.regularizationRate);
      }
    });
    if (c.record.includes(iter)) out.losses.push([iter, getLoss(train), getLoss(test)]);
  }
  out.final_weights = weights();
  out.final_biases = biases();
  out.final_dead = dead();
  return out;
}

const base = {seed: "42", dataset: "circle", noise: 0, percTrainData: 50, batchSize: 10, features: ["x", "y"],
              networkShape: [4, 2], activation: "tanh", learningRate: 0.03, regularization: "none",
              regularizationRate: 0, epochs: 10, record: [1, 2, 5, 10]};
const configs = [
  {},  // the Playground's defaults (state.ts), seed 42
  {dataset: "xor", noise: 25, features: ["x", "y", "xTimesY"], networkShape: [8], activation: "relu",
   learningRate: 0.01, regularization: "L1", regularizationRate: 0.003, batchSize: 7, seed: "7"},
  {dataset: "gauss", noise: 50, networkShape: [3], activation: "sigmoid", learningRate: 0.3, regularization: "L2",
   regularizationRate: 0.1, batchSize: 30, percTrainData: 70, seed: "123"},
  {dataset: "spiral", noise: 10, features: Object.keys(INPUTS), networkShape: [8, 8, 6], learningRate: 0.03,
   regularization: "L2", regularizationRate: 0.001, percTrainData: 80, seed: "2024", epochs: 5, record: [1, 5]},
  {dataset: "reg-plane", noise: 15, networkShape: [2], activation: "linear", learningRate: 0.01, batchSize: 1,
   percTrainData: 30, seed: "1", epochs: 2, record: [1, 2]},
  {dataset: "reg-gauss", noise: 5, features: ["x", "y", "sinX", "sinY"], networkShape: [6, 4], activation: "relu",
   regularization: "L1", regularizationRate: 0.001, batchSize: 25, percTrainData: 40, seed: "99"},
  {dataset: "xor", features: ["x", "y", "xSquared", "ySquared"], networkShape: [5, 5, 5, 5, 5, 5],
   learningRate: 0.1, regularization: "L1", regularizationRate: 0.3, seed: "0"},  // L1 kills links (isDead)
];
// seedrandom itself: the first draws of a few seeds (the page's seeds are strings such as "0.12345")
const draws = {};
for (const seed of ["42", "0.12345", "0", "zażółć 🎲"]) {
  Math.seedrandom(seed);
  draws[seed] = [0, 1, 2, 3, 4].map(() => Math.random());
}
process.stdout.write(JSON.stringify({seedrandom: draws, runs: configs.map(c => run(Object.assign({}, base, c)))})
                     + "\n");
